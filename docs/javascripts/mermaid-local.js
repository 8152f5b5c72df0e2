// Mermaid from this site instead of a CDN: the docs make no outside requests.
// Material renders diagrams with `mermaid.initialize()` + `mermaid.render()` and fetches the
// library from unpkg only when `window.mermaid` is undefined. This stub defines it and loads
// the vendored copy (docs/assets/vendor/mermaid, MIT) on the first diagram, so pages
// without diagrams never download it.
(function () {
  var src = new URL("../assets/vendor/mermaid/mermaid.min.js", document.currentScript.src).href;
  var real = null;
  var config = {};
  var loading = null;

  function load() {
    if (!loading) {
      loading = new Promise(function (resolve, reject) {
        var stub = window.mermaid;
        var script = document.createElement("script");
        script.src = src;
        script.onload = function () {
          real = window.mermaid;
          window.mermaid = stub;
          real.initialize(config);
          resolve(real);
        };
        script.onerror = function () {
          reject(new Error("could not load " + src));
        };
        document.head.appendChild(script);
      });
    }
    return loading;
  }

  window.mermaid = {
    initialize: function (options) {
      config = options || {};
      if (real) real.initialize(config);
    },
    render: function (id, text) {
      return load().then(function (lib) {
        return lib.render(id, text);
      });
    },
  };
})();
