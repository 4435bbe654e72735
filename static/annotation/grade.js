// The grading screen's keys, its "what is missing" warning and the linked scrolling of the
// two responses. Every key is listed in the instructions (annotation.grading.key_help).
// No inline script anywhere: the CSP forbids it, so this file is all the page runs besides htmx.
(function () {
  "use strict";

  var LINK_SCROLL_KEY = "humaneval.linkScroll";

  function form() { return document.getElementById("grade-form"); }

  function typing(target) {
    if (!target) return false;
    var tag = target.tagName;
    return tag === "TEXTAREA" || tag === "SELECT" ||
      (tag === "INPUT" && /^(text|search|email|number|password)$/.test(target.type)) ||
      target.isContentEditable;
  }

  // --- the incomplete warning: mark exactly what is missing and bring it into view ----------

  function missingGroups(f) {
    var missing = [];
    f.querySelectorAll("fieldset[data-required]").forEach(function (group) {
      if (!group.querySelector("input:checked")) missing.push(group);
    });
    return missing;
  }

  function sayMissing(groups) {
    var line = document.getElementById("missing");
    if (!line) return;
    var labels = groups.map(function (g) { return g.dataset.missingLabel; });
    line.textContent = labels.length ? "Still missing: " + labels.join(", ") + "." : "";
  }

  function markMissing(f, groups) {
    f.querySelectorAll("fieldset.missing, fieldset.invalid").forEach(function (g) {
      g.classList.remove("missing", "invalid");
    });
    groups.forEach(function (g) { g.classList.add("missing"); });
    sayMissing(groups);
    // The middle of the screen, not its edge: on a phone the edge is under the pinned Submit bar.
    if (groups.length) groups[0].scrollIntoView({ block: "center", inline: "nearest" });
  }

  // A choice made in a marked group clears its mark; the others stay marked.
  function clearAnswered(f) {
    var still = [];
    f.querySelectorAll("fieldset.missing, fieldset.invalid").forEach(function (g) {
      if (g.querySelector("input:checked")) g.classList.remove("missing", "invalid");
      else still.push(g);
    });
    sayMissing(still);
  }

  function trySubmit(f) {
    var missing = missingGroups(f);
    if (missing.length) { markMissing(f, missing); return; }
    var button = document.getElementById("submit-vote");
    if (button && button.disabled) return;  // a request is already on its way
    if (typeof f.requestSubmit === "function") f.requestSubmit(button || undefined); else f.submit();
  }

  // Clicking Submit with something missing: warn instead of sending (the server would refuse
  // it with 422 and the same marks). Runs before htmx sees the submit event.
  document.addEventListener("submit", function (event) {
    var f = event.target;
    if (!f || f.id !== "grade-form") return;
    if (event.submitter && event.submitter.id === "skip-task") return;
    var missing = missingGroups(f);
    if (!missing.length) return;
    event.preventDefault();
    event.stopImmediatePropagation();
    markMissing(f, missing);
  }, true);

  document.addEventListener("change", function (event) {
    var f = form();
    if (f && f.contains(event.target)) clearAnswered(f);
    if (event.target && event.target.id === "link-scroll") {
      try { window.localStorage.setItem(LINK_SCROLL_KEY, event.target.checked ? "1" : "0"); } catch (e) { /* private mode */ }
    }
  });

  // --- linked scrolling: both panes at the same share of their length -----------------------

  function linked() {
    var box = document.getElementById("link-scroll");
    return !!(box && box.checked);
  }

  document.addEventListener("scroll", function (event) {
    var source = event.target;
    if (!linked() || !source.classList || !source.classList.contains("pane-body")) return;
    var range = source.scrollHeight - source.clientHeight;
    var share = range > 0 ? source.scrollTop / range : 0;
    document.querySelectorAll(".pane-body").forEach(function (other) {
      if (other === source) return;
      var target = Math.round(share * (other.scrollHeight - other.clientHeight));
      // The other pane's own scroll event comes back here and finds nothing to move.
      if (Math.abs(other.scrollTop - target) > 1) other.scrollTop = target;
    });
  }, true);

  function restoreLinkScroll() {
    var box = document.getElementById("link-scroll");
    if (!box) return;
    try { box.checked = window.localStorage.getItem(LINK_SCROLL_KEY) === "1"; } catch (e) { /* private mode */ }
  }

  // --- keys ---------------------------------------------------------------------------------

  function instructions() { return document.getElementById("instructions"); }

  function follow(id) {
    var link = document.getElementById(id);
    if (!link) return false;
    window.location.assign(link.href);
    return true;
  }

  function pick(f, key) {
    var input = null;
    f.querySelectorAll("input[data-key]").forEach(function (el) {
      if (!input && el.dataset.key === key) input = el;
    });
    if (!input) return false;
    if (input.type === "checkbox") input.checked = !input.checked; else input.checked = true;
    input.dispatchEvent(new Event("change", { bubbles: true }));
    return true;
  }

  document.addEventListener("keydown", function (event) {
    if (event.defaultPrevented || event.isComposing) return;
    var f = form();
    var target = event.target;
    if (typing(target)) {
      if (event.key === "Escape") target.blur();
      else if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && f && f.contains(target)) {
        event.preventDefault();
        trySubmit(f);
      }
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    var key = event.key;
    // Letters by what the grader pressed, not by Caps Lock: Shift is what picks B's tags.
    if (/^[a-z]$/i.test(key)) key = event.shiftKey ? key.toUpperCase() : key.toLowerCase();
    var details = instructions();

    if (key === "Escape") {
      if (details && details.open) { event.preventDefault(); details.open = false; }
      return;
    }
    if (key === "?") {
      if (details) { event.preventDefault(); details.open = !details.open; }
      return;
    }
    if (key === "u") {
      var undo = document.getElementById("undo-skip");
      if (undo) { event.preventDefault(); undo.click(); return; }
      if (follow("change-last")) event.preventDefault();
      return;
    }
    if (key === "h") {
      if (follow("history-link")) event.preventDefault();
      return;
    }
    if (key === "l") {
      var box = document.getElementById("link-scroll");
      if (box) {
        event.preventDefault();
        box.checked = !box.checked;
        box.dispatchEvent(new Event("change", { bubbles: true }));
      }
      return;
    }
    if (!f) return;
    if (key === "Enter") {
      var tag = target && target.tagName;
      if (tag === "A" || tag === "BUTTON" || tag === "SUMMARY") return;  // their own Enter
      event.preventDefault();
      trySubmit(f);
      return;
    }
    if (key === "/") {
      // Found by name: an id would make htmx copy a test tool's empty style="" onto the next task.
      var comment = f.querySelector('textarea[name="comment"]');
      if (comment) { event.preventDefault(); comment.focus(); }
      return;
    }
    if (key === "k") {
      var skip = document.getElementById("skip-task");
      if (skip) { event.preventDefault(); skip.click(); }
      return;
    }
    if (pick(f, key)) event.preventDefault();
  });

  // After htmx swaps in the next task (the event comes after the settle): read from the top.
  document.body.addEventListener("taskLoaded", function () {
    document.querySelectorAll(".pane-body").forEach(function (el) { el.scrollTop = 0; });
    window.scrollTo(0, 0);
    var f = form();
    var marked = f ? f.querySelector("fieldset.invalid") : null;
    if (marked) marked.scrollIntoView({ block: "center" });
  });

  restoreLinkScroll();
  var f = form();
  var marked = f ? f.querySelector("fieldset.invalid") : null;
  if (marked) marked.scrollIntoView({ block: "center" });
})();
