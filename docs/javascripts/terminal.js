/*
 * Terminal replay for captured `ml` sessions (Termynal-style, no dependencies, no network).
 *
 * Markup: a container with class `mltrack-terminal` around a livedocs output block. The
 * captured text is split into lines; lines starting with "$ " are typed character by
 * character, the others appear one after another. Users who prefer reduced motion get the
 * whole session at once. The replay starts when the terminal scrolls into view and can be
 * restarted with the button in its corner.
 */
(function () {
  "use strict";

  var TYPE_MS = 28;     // per character of a command
  var LINE_MS = 70;     // between output lines
  var PAUSE_MS = 450;   // after a command, before its output

  function reducedMotion() {
    return window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)").matches;
  }

  function splitLines(code) {
    // Each captured line becomes its own element; the browser closes any tag left open
    // by a line break (ANSI colour spans), which keeps every line renderable on its own.
    var parts = code.innerHTML.split("\n");
    code.innerHTML = "";
    return parts.map(function (html) {
      var line = document.createElement("span");
      line.className = "mltrack-terminal__line";
      line.innerHTML = html.length ? html : "\u200b";
      code.appendChild(line);
      return line;
    });
  }

  function isCommand(line) {
    return /^\$ /.test(line.textContent);
  }

  function sleep(ms, token) {
    return new Promise(function (resolve, reject) {
      setTimeout(function () {
        token.cancelled ? reject(new Error("cancelled")) : resolve();
      }, ms);
    });
  }

  function typeLine(line, token) {
    var text = line.textContent;
    line.textContent = "";
    line.classList.add("is-visible", "is-typing");
    var i = 0;
    function step() {
      if (i > text.length) {
        line.classList.remove("is-typing");
        return Promise.resolve();
      }
      line.textContent = text.slice(0, i++);
      return sleep(TYPE_MS, token).then(step);
    }
    return step();
  }

  function play(term) {
    if (term._token) term._token.cancelled = true;
    var token = { cancelled: false };
    term._token = token;
    var lines = term._lines;
    lines.forEach(function (line, n) {
      line.innerHTML = term._html[n];
      line.classList.remove("is-visible", "is-typing");
    });
    if (reducedMotion()) {
      lines.forEach(function (line) { line.classList.add("is-visible"); });
      return;
    }
    var chain = Promise.resolve();
    lines.forEach(function (line) {
      chain = chain.then(function () {
        if (isCommand(line)) {
          return sleep(PAUSE_MS, token).then(function () { return typeLine(line, token); })
            .then(function () { return sleep(PAUSE_MS, token); });
        }
        line.classList.add("is-visible");
        return sleep(LINE_MS, token);
      });
    });
    chain.catch(function () { /* cancelled by a replay */ });
  }

  function setup(term) {
    if (term.dataset.ready) return;
    var code = term.querySelector(".livedocs-console pre > code, pre > code");
    if (!code) return;
    term.dataset.ready = "1";
    term._lines = splitLines(code);
    term._html = term._lines.map(function (line) { return line.innerHTML; });
    term.classList.add("mltrack-terminal--ready");

    var replay = document.createElement("button");
    replay.type = "button";
    replay.className = "mltrack-terminal__replay";
    replay.title = "Replay the session";
    replay.setAttribute("aria-label", "Replay the session");
    replay.textContent = "\u21bb replay";
    replay.addEventListener("click", function () { play(term); });
    term.appendChild(replay);

    if (reducedMotion() || !("IntersectionObserver" in window)) {
      play(term);
      return;
    }
    term._lines.forEach(function (line) { line.classList.remove("is-visible"); });
    var observer = new IntersectionObserver(function (entries) {
      entries.forEach(function (entry) {
        if (entry.isIntersecting) {
          observer.disconnect();
          play(term);
        }
      });
    }, { threshold: 0.2 });
    observer.observe(term);
  }

  function init() {
    document.querySelectorAll(".mltrack-terminal").forEach(setup);
  }

  // Material's instant navigation swaps pages without a reload: re-run on every page.
  if (window.document$ && typeof window.document$.subscribe === "function") {
    window.document$.subscribe(init);
  } else if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
