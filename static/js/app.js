// Studio's few behaviours. No inline script anywhere: the CSP forbids it.
(function () {
  "use strict";

  var TOAST_MS = 5000;

  function dismissLater(toast, ms) {
    setTimeout(function () {
      toast.classList.add("is-leaving");
      setTimeout(function () { toast.remove(); }, 350);
    }, ms || TOAST_MS);
  }

  // Shows a toast; textContent so no message can inject markup. A link must be a same-site path.
  function showToast(message, level, link) {
    var box = document.getElementById("toasts");
    if (!box || !message) return;
    var toast = document.createElement("div");
    toast.className = "toast toast-" + (["success", "error", "warning"].indexOf(level) >= 0 ? level : "info");
    toast.textContent = message;
    if (link && typeof link.href === "string" && /^\/(?![\/\\])/.test(link.href)) {
      var anchor = document.createElement("a");
      anchor.href = link.href;
      anchor.textContent = link.text || link.href;
      toast.appendChild(document.createTextNode(" "));
      toast.appendChild(anchor);
    }
    box.appendChild(toast);
    dismissLater(toast, link ? 3 * TOAST_MS : TOAST_MS);  // time to reach the link
  }
  window.studioToast = showToast;

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("#toasts .toast").forEach(function (toast) { dismissLater(toast); });
    // On a desktop the menu <details> stays open; on a phone it starts closed.
    var menu = document.querySelector(".nav-menu");
    if (menu && window.matchMedia("(min-width: 761px)").matches) menu.open = true;
  });

  // Server confirmations arrive as an HX-Trigger "toast" event.
  document.addEventListener("toast", function (event) {
    var detail = event.detail || {};
    showToast(detail.message, detail.level, detail.link);
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

// The chat page's layout (issue 17): the actions menu, dialogs, the phone's sidebar drawer, the
// composer's shortcuts, copying a message, and "jump to latest" while an answer streams.
(function () {
  "use strict";

  function openDialog(dialog) {
    if (!dialog || dialog.open) return;
    dialog.showModal();
    dialog.querySelectorAll("[data-load-on-open]").forEach(function (part) {  // the share panel loads now
      if (window.htmx) htmx.trigger(part, "dialog-opened");
    });
  }

  function closePopups(except) {
    document.querySelectorAll(".conversation-menu[open], .options-panel[open]").forEach(function (popup) {
      if (popup !== except) popup.open = false;
    });
  }

  function setSidebar(isOpen) {
    var sidebar = document.getElementById("chat-sidebar");
    if (!sidebar) return;
    sidebar.classList.toggle("is-open", isOpen);
    document.querySelectorAll(".sidebar-open").forEach(function (button) {
      button.setAttribute("aria-expanded", isOpen ? "true" : "false");
      if (!isOpen && sidebar.contains(document.activeElement)) button.focus();
    });
    if (isOpen) {
      var filter = document.getElementById("sidebar-filter");
      if (filter) filter.focus();
    }
  }

  function stopAnswer() {
    var stop = document.querySelector(".message.is-streaming .stop-button");
    if (stop) stop.click();
    return !!stop;
  }

  document.addEventListener("click", function (event) {
    var target = event.target.closest ? event.target : event.target.parentElement;
    var opener = target.closest("[data-open-dialog]");
    if (opener) {
      closePopups(null);
      openDialog(document.getElementById(opener.dataset.openDialog));
      return;
    }
    var closer = target.closest("[data-close-dialog]");
    if (closer) { closer.closest("dialog").close(); return; }
    if (target.closest("[data-sidebar-toggle]")) {
      var sidebar = document.getElementById("chat-sidebar");
      setSidebar(!(sidebar && sidebar.classList.contains("is-open")));
      return;
    }
    if (target.closest("[data-stop-answer]")) { stopAnswer(); return; }
    var copy = target.closest(".copy-message");
    if (copy) {
      var body = copy.closest(".message").querySelector(".message-body");
      window.studioCopy(body ? body.innerText : "").then(
        function () { window.studioToast("Message copied.", "success"); },
        function () { window.studioToast("Copying failed: select the text and copy it by hand.", "error"); });
      return;
    }
    // A click elsewhere closes the actions menu and the options popover.
    closePopups(target.closest(".conversation-menu, .options-panel"));
  });

  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape" || event.defaultPrevented) return;
    if (document.querySelector("dialog[open]")) return;  // the dialog closes itself
    var popup = document.querySelector(".conversation-menu[open], .options-panel[open]");
    if (popup) {
      popup.open = false;
      popup.querySelector("summary").focus();
      event.preventDefault();
      return;
    }
    var sidebar = document.getElementById("chat-sidebar");
    if (sidebar && sidebar.classList.contains("is-open")) { setSidebar(false); event.preventDefault(); return; }
    if (stopAnswer()) event.preventDefault();
  });

  // A dialog's form marked data-close-on-success (the new title lands outside it) closes the dialog.
  document.addEventListener("htmx:afterRequest", function (event) {
    var form = event.detail.elt;
    if (!event.detail.successful || !form.hasAttribute || !form.hasAttribute("data-close-on-success")) return;
    var dialog = form.closest("dialog");
    if (dialog && dialog.open) dialog.close();
  });

  // The composer's and the top bar's heights, for the layout (toasts and "jump to latest" sit above the composer).
  var sizes = window.ResizeObserver ? new ResizeObserver(function () { measure(); }) : null;
  function measure() {
    var root = document.documentElement.style;
    var composer = document.getElementById("composer");
    var topbar = document.querySelector(".topbar");
    if (composer) root.setProperty("--composer-height", composer.offsetHeight + "px");
    if (topbar) root.setProperty("--topbar-height", topbar.offsetHeight + "px");
  }
  function observe() {
    if (!sizes) return measure();
    sizes.disconnect();
    ["composer"].forEach(function (id) { var el = document.getElementById(id); if (el) sizes.observe(el); });
    var topbar = document.querySelector(".topbar");
    if (topbar) sizes.observe(topbar);
    measure();
  }
  document.addEventListener("htmx:afterSettle", observe);

  // "Jump to latest" shows while an answer streams and the reader has scrolled up.
  function updateJump() {
    var box = document.getElementById("messages");
    var jump = document.querySelector(".jump-latest");
    if (!box || !jump) return;
    var isAway = box.scrollHeight - box.scrollTop - box.clientHeight > 120;
    jump.hidden = !(isAway && document.querySelector(".message.is-streaming"));
  }
  document.addEventListener("scroll", function (event) {
    if (event.target && event.target.id === "messages") updateJump();
  }, true);
  document.addEventListener("htmx:sseMessage", updateJump);
  document.addEventListener("click", function (event) {
    if (!event.target.closest || !event.target.closest(".jump-latest")) return;
    var box = document.getElementById("messages");
    box.scrollTop = box.scrollHeight;
    box.dataset.follow = "yes";
    updateJump();
  });

  document.addEventListener("DOMContentLoaded", function () {
    observe();
    document.querySelectorAll("dialog[data-open-on-load]").forEach(openDialog);
  });
})();
