// Keyboard grading: 1-4 verdict, the key shown beside each rating and tag,
// Enter submits when the answer is complete, k skips, u changes the last answer,
// ? opens the instructions. No inline script anywhere: the CSP forbids it.
(function () {
  "use strict";

  function form() { return document.getElementById("grade-form"); }

  function typing(target) {
    if (!target) return false;
    var tag = target.tagName;
    return tag === "TEXTAREA" || (tag === "INPUT" && target.type === "text") || target.isContentEditable;
  }

  function complete(f) {
    if (f.dataset.kind === "pair" && !f.querySelector('input[name="verdict"]:checked')) return false;
    if (f.dataset.needsRatings === "1") {
      var groups = {};
      f.querySelectorAll('input[type="radio"][name^="rating_"]').forEach(function (el) { groups[el.name] = true; });
      for (var name in groups) {
        if (!f.querySelector('input[name="' + name + '"]:checked')) return false;
      }
    }
    return true;
  }

  function markIncomplete(f) {
    f.classList.add("incomplete");
    window.setTimeout(function () { f.classList.remove("incomplete"); }, 900);
  }

  function submit(f) {
    var button = document.getElementById("submit-vote");
    if (button && button.disabled) return;  // a request is already on its way
    if (typeof f.requestSubmit === "function") f.requestSubmit(button || undefined); else f.submit();
  }

  document.addEventListener("keydown", function (event) {
    var f = form();
    if (!f || event.ctrlKey || event.metaKey || event.altKey) return;
    if (typing(event.target)) {
      if (event.key === "Escape") event.target.blur();
      return;
    }
    var key = event.key;
    if (key === "Enter") {
      event.preventDefault();
      if (complete(f)) submit(f); else markIncomplete(f);
      return;
    }
    if (key === "k") {
      var skip = document.getElementById("skip-task");
      if (skip) { event.preventDefault(); skip.click(); }
      return;
    }
    if (key === "u") {
      var change = document.getElementById("change-last");
      if (change) { event.preventDefault(); window.location.assign(change.href); }
      return;
    }
    if (key === "?") {
      var details = document.getElementById("instructions");
      if (details) { event.preventDefault(); details.open = !details.open; }
      return;
    }
    var input = null;
    f.querySelectorAll("input[data-key]").forEach(function (el) {
      if (!input && el.dataset.key === key) input = el;
    });
    if (!input) return;
    event.preventDefault();
    if (input.type === "checkbox") input.checked = !input.checked; else input.checked = true;
    input.dispatchEvent(new Event("change", { bubbles: true }));
  });

  // After htmx swaps in the next task: start reading at the top of each pane.
  document.body.addEventListener("taskLoaded", function () {
    document.querySelectorAll(".pane-body").forEach(function (el) { el.scrollTop = 0; });
    window.scrollTo(0, 0);
  });
})();
