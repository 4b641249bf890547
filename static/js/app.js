// Studio's few behaviours. No inline script anywhere: the CSP forbids it.
(function () {
  "use strict";

  var TOAST_MS = 5000;

  function dismissLater(toast) {
    setTimeout(function () {
      toast.classList.add("is-leaving");
      setTimeout(function () { toast.remove(); }, 350);
    }, TOAST_MS);
  }

  // Shows a toast; textContent so no message can inject markup.
  function showToast(message, level) {
    var box = document.getElementById("toasts");
    if (!box || !message) return;
    var toast = document.createElement("div");
    toast.className = "toast toast-" + (["success", "error", "warning"].indexOf(level) >= 0 ? level : "info");
    toast.textContent = message;
    box.appendChild(toast);
    dismissLater(toast);
  }
  window.studioToast = showToast;

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("#toasts .toast").forEach(dismissLater);
    // On a desktop the menu <details> stays open; on a phone it starts closed.
    var menu = document.querySelector(".nav-menu");
    if (menu && window.matchMedia("(min-width: 761px)").matches) menu.open = true;
  });

  // Server confirmations arrive as an HX-Trigger "toast" event.
  document.addEventListener("toast", function (event) {
    var detail = event.detail || {};
    showToast(detail.message, detail.level);
  });

  // Error answers are not swapped by htmx; explain network failures plainly.
  document.addEventListener("htmx:sendError", function () {
    showToast("The server could not be reached. Check your connection and try again.", "error");
  });

  // Close an open dropdown when clicking elsewhere.
  document.addEventListener("click", function (event) {
    document.querySelectorAll(".nav-dropdown[open]").forEach(function (dropdown) {
      if (!dropdown.contains(event.target)) dropdown.open = false;
    });
  });
})();

// Chat behaviours: Enter sends, streamed reasoning shows itself, the view follows a streaming answer.
(function () {
  "use strict";

  document.addEventListener("keydown", function (event) {
    var box = event.target;
    if (!box.classList || !box.classList.contains("composer-input")) return;
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      if (box.form && box.value.trim()) box.form.requestSubmit();
    }
  });

  // A plain (non-htmx) composer: one submit only, even when double-clicked.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.classList || !form.classList.contains("composer") || form.hasAttribute("hx-post")) return;
    if (form.dataset.sending === "yes") { event.preventDefault(); return; }
    form.dataset.sending = "yes";
  });

  function nearBottom(box) {
    return box.scrollHeight - box.scrollTop - box.clientHeight < 120;
  }

  document.addEventListener("htmx:sseBeforeMessage", function (event) {
    var box = document.getElementById("messages");
    if (box) box.dataset.follow = nearBottom(box) ? "yes" : "no";
  });

  document.addEventListener("htmx:sseMessage", function (event) {
    var target = event.target;
    if (target && target.classList && target.classList.contains("reasoning-text")) {
      var details = target.closest("details");
      if (details) details.hidden = false;
    }
    var box = document.getElementById("messages");
    if (box && box.dataset.follow === "yes") box.scrollTop = box.scrollHeight;
  });

  // "thinking… 0:42" while an answer has no text yet: the start time comes from the server; the
  // timer hides once text arrives, and the finished message replaces it.
  function tickThinkingTimers() {
    document.querySelectorAll("[data-thinking-since]").forEach(function (timer) {
      var text = timer.parentElement.querySelector(".streaming-text");
      if (text && text.textContent.trim()) { timer.hidden = true; return; }
      var seconds = Math.max(0, Math.floor((Date.now() - Date.parse(timer.dataset.thinkingSince)) / 1000));
      timer.querySelector(".thinking-elapsed").textContent =
        Math.floor(seconds / 60) + ":" + String(seconds % 60).padStart(2, "0");
    });
  }
  setInterval(tickThinkingTimers, 1000);
  document.addEventListener("htmx:sseMessage", tickThinkingTimers);

  document.addEventListener("DOMContentLoaded", function () {
    var box = document.getElementById("messages");
    var target = location.hash && document.getElementById(location.hash.slice(1));
    if (target) target.scrollIntoView({ block: "center" });  // a search result
    else if (box) box.scrollTop = box.scrollHeight;
    var composer = document.querySelector(".composer-input");
    if (composer && !document.querySelector("[autofocus]")) composer.focus();
  });
})();

// Folders: remember open/closed, and drag conversations into folders.
(function () {
  "use strict";

  var MOVE_TYPE = "application/x-studio-move-url";

  // A folder's <details> posts itself on toggle (hx-post, hx-trigger="toggle"); htmx cannot read
  // `open` without eval (the CSP forbids it), so the state is added here.
  document.addEventListener("htmx:configRequest", function (event) {
    var folder = event.detail.elt;
    if (folder.tagName === "DETAILS" && folder.classList.contains("folder")) {
      event.detail.parameters.expanded = folder.open ? "1" : "0";
    }
  });

  function dropZone(event) {
    return event.target.closest ? event.target.closest("[data-drop-folder]") : null;
  }

  document.addEventListener("dragstart", function (event) {
    var item = event.target.closest ? event.target.closest("[data-move-url]") : null;
    if (!item) return;
    event.dataTransfer.setData(MOVE_TYPE, item.dataset.moveUrl);
    event.dataTransfer.effectAllowed = "move";
  });

  document.addEventListener("dragover", function (event) {
    var zone = dropZone(event);
    if (!zone) return;
    event.preventDefault();
    zone.classList.add("is-drop-target");
  });

  document.addEventListener("dragleave", function (event) {
    var zone = dropZone(event);
    if (zone) zone.classList.remove("is-drop-target");
  });

  document.addEventListener("drop", function (event) {
    var zone = dropZone(event);
    if (!zone || !window.htmx) return;
    event.preventDefault();
    zone.classList.remove("is-drop-target");
    var url = event.dataTransfer.getData(MOVE_TYPE);  // rendered with url_for on the dragged row
    if (!url) return;
    htmx.ajax("POST", url, { source: zone, swap: "none", values: { folder_id: zone.dataset.dropFolder } });
  });
})();

// Copying: one routine for every copy button (share links here, code blocks in copy-code.js).
(function () {
  "use strict";

  // Plain-http pages have no navigator.clipboard: copy through a selected, off-screen textarea.
  function copyWithSelection(text) {
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.className = "copy-buffer";
    document.body.appendChild(area);
    area.select();
    var ok = false;
    try { ok = document.execCommand("copy"); } catch (err) { ok = false; }
    document.body.removeChild(area);
    return ok ? Promise.resolve() : Promise.reject(new Error("copy failed"));
  }

  /** Copy text to the clipboard; a promise that settles when done or failed. */
  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text).catch(function () { return copyWithSelection(text); });
    }
    return copyWithSelection(text);
  }
  window.studioCopy = copyText;

  // Share links: the copy button copies the link next to it.
  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest(".copy-link") : null;
    if (!button) return;
    var field = document.getElementById(button.dataset.copyTarget);
    if (!field) return;
    copyText(field.value).then(
      function () { window.studioToast("Link copied.", "success"); },
      function () { field.select(); window.studioToast("Copying failed: the link is selected, copy it by hand.", "error"); });
  });
})();
