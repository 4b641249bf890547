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
