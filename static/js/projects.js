// Projects: the upload form's progress bar (htmx's XHR progress) and a drop zone highlight.
document.addEventListener("htmx:xhr:progress", function (event) {
  var form = event.target.closest && event.target.closest(".upload-form");
  if (!form || !event.detail.lengthComputable) return;
  var bar = form.querySelector(".upload-progress");
  bar.hidden = false;
  bar.value = Math.round((event.detail.loaded / event.detail.total) * 100);
});
document.addEventListener("dragover", function (event) {
  var zone = event.target.closest && event.target.closest(".drop-zone");
  if (zone) zone.classList.add("is-dragging");
});
document.addEventListener("dragleave", function (event) {
  var zone = event.target.closest && event.target.closest(".drop-zone");
  if (zone) zone.classList.remove("is-dragging");
});
document.addEventListener("drop", function (event) {
  var zone = event.target.closest && event.target.closest(".drop-zone");
  if (zone) zone.classList.remove("is-dragging");
});
