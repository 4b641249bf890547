/* Copy buttons for code blocks in rendered messages.
   The sanitiser strips <button> from message content, so the buttons are added here,
   after the first load and after every htmx swap (pages, fragments, SSE messages).
   No inline script: load with <script src=".../copy-code.js" defer>. */
(function () {
  "use strict";

  var COPIED_MS = 1500;
  var LABEL = "Copy";
  var LABEL_ARIA = "Copy code";

  /** The .codeblock around a <pre>, creating one if the markup has none. */
  function holderFor(pre) {
    var parent = pre.parentElement;
    if (parent && parent.classList.contains("codeblock")) {
      return parent;
    }
    var holder = document.createElement("div");
    holder.className = "codeblock";
    pre.parentNode.insertBefore(holder, pre);
    holder.appendChild(pre);
    return holder;
  }

  function hasButton(holder) {
    for (var i = 0; i < holder.children.length; i++) {
      if (holder.children[i].classList.contains("copy-code")) {
        return true;
      }
    }
    return false;
  }

  /** Give every code block under the message bodies a copy button (once). */
  function addButtons() {
    var blocks = document.querySelectorAll(".message-body pre");
    for (var i = 0; i < blocks.length; i++) {
      var holder = holderFor(blocks[i]);
      if (hasButton(holder)) {
        continue;
      }
      var button = document.createElement("button");
      button.type = "button";
      button.className = "copy-code";
      button.setAttribute("aria-label", LABEL_ARIA);
      button.textContent = LABEL;
      holder.appendChild(button);
    }
  }

  function showState(button, text) {
    button.textContent = text;
    button.setAttribute("aria-label", text);
    button.classList.add("is-copied");
    window.clearTimeout(button._copyTimer);
    button._copyTimer = window.setTimeout(function () {
      button.textContent = LABEL;
      button.setAttribute("aria-label", LABEL_ARIA);
      button.classList.remove("is-copied");
    }, COPIED_MS);
  }

  // One delegated listener: works for buttons added after any later swap.
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest(".copy-code");
    if (!button) {
      return;
    }
    var holder = button.closest(".codeblock");
    var pre = holder && holder.querySelector("pre");
    if (!pre) {
      return;
    }
    var code = pre.querySelector("code") || pre;
    window.studioCopy(code.textContent).then(
      function () { showState(button, "Copied"); },
      function () { showState(button, "Copy failed"); }
    );
  });

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", addButtons);
  } else {
    addButtons();
  }
  document.addEventListener("htmx:afterSwap", addButtons);
  document.addEventListener("htmx:oobAfterSwap", addButtons);
  document.addEventListener("htmx:sseMessage", addButtons);
})();
