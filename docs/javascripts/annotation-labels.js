/*
 * Material draws a code annotation's number with CSS only, so its link has no text for
 * screen readers (axe: link-name). Name each marker "Annotation N" as Material adds it.
 */
(function () {
  "use strict";

  function label(root) {
    root.querySelectorAll(".md-annotation__index:not([aria-label])").forEach(function (link) {
      var number = link.querySelector("[data-md-annotation-id]");
      var id = number ? number.getAttribute("data-md-annotation-id") : "";
      link.setAttribute("aria-label", "Annotation " + id);
    });
  }

  new MutationObserver(function () { label(document); })
    .observe(document.documentElement, { childList: true, subtree: true });
  document.addEventListener("DOMContentLoaded", function () { label(document); });
})();
