/*
 * Ctrl+K / Cmd+K opens the search, in addition to Material's own "/" and "s" keys.
 * Escape still closes it (Material handles that).
 */
(function () {
  "use strict";

  function openSearch() {
    var toggle = document.querySelector('input[data-md-toggle="search"]');
    var input = document.querySelector(".md-search__input");
    if (!toggle || !input) return false;
    if (!toggle.checked) {
      toggle.checked = true;
      toggle.dispatchEvent(new Event("change"));
    }
    // Focus after Material has shown the overlay.
    setTimeout(function () { input.focus(); input.select(); }, 0);
    return true;
  }

  document.addEventListener("keydown", function (event) {
    var key = (event.key || "").toLowerCase();
    if (key !== "k" || !(event.ctrlKey || event.metaKey) || event.altKey || event.shiftKey) return;
    if (openSearch()) {
      event.preventDefault();
      event.stopPropagation();
    }
  }, true);

  // Show the shortcut in the search field's placeholder.
  function hint() {
    var input = document.querySelector(".md-search__input");
    if (input && !input.dataset.shortcutHint) {
      input.dataset.shortcutHint = "1";
      var mac = /Mac|iPhone|iPad/.test(navigator.platform || "");
      input.setAttribute("placeholder", "Search (" + (mac ? "\u2318K" : "Ctrl+K") + ")");
    }
  }
  if (window.document$ && typeof window.document$.subscribe === "function") {
    window.document$.subscribe(hint);
  } else {
    document.addEventListener("DOMContentLoaded", hint);
  }
})();
