// Mercato's pages work without this file; it only moves focus to what changed.
document.addEventListener("DOMContentLoaded", function () {
  var summary = document.getElementById("error-summary");
  if (summary) { summary.focus(); }
});
document.addEventListener("htmx:afterSwap", function (event) {
  var summary = event.target.querySelector && event.target.querySelector("#error-summary");
  if (summary) { summary.focus(); }
});
