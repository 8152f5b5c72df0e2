// Interactive explorer for the REST API reference page.
//
// The OpenAPI document is not a file kept in the repository: it is the output of
// examples/serve_openapi.py, executed at docs build time against a real model server and
// rendered on the page by livedocs. This script finds that output on the page, parses it
// and hands it to the vendored Swagger UI (docs/assets/vendor/swagger-ui, no network).
(function () {
  "use strict";

  function findSchema() {
    var blocks = document.querySelectorAll(".livedocs-output code, pre code");
    for (var i = 0; i < blocks.length; i++) {
      var text = blocks[i].textContent || "";
      // The output may start with log lines: the document starts at `{ "openapi"`.
      var start = text.search(/\{\s*"openapi"/);
      if (start < 0) continue;
      try {
        var schema = JSON.parse(text.slice(start));
        if (schema.openapi && schema.paths) return schema;
      } catch (err) {
        /* not the document: keep looking */
      }
    }
    return null;
  }

  function render() {
    var target = document.getElementById("mltrack-api-explorer");
    if (!target || target.dataset.rendered) return;
    if (typeof window.SwaggerUIBundle !== "function") {
      target.textContent = "The explorer script did not load.";
      return;
    }
    var schema = findSchema();
    if (!schema) {
      target.textContent = "No OpenAPI output found on this page (the example did not run).";
      return;
    }
    target.dataset.rendered = "1";
    window.SwaggerUIBundle({
      spec: schema,
      domNode: target,
      deepLinking: false,
      docExpansion: "list",
      defaultModelsExpandDepth: 1,
      // No model server runs behind the docs: browse the API, do not send requests.
      supportedSubmitMethods: [],
      presets: [window.SwaggerUIBundle.presets.apis],
      layout: "BaseLayout",
    });
  }

  // Material's instant navigation swaps pages without a reload: render on each page.
  if (window.document$ && typeof window.document$.subscribe === "function") {
    window.document$.subscribe(render);
  } else if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", render);
  } else {
    render();
  }
})();
