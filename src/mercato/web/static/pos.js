// The POS works without this file: it shows the print button, and keeps the scanner's field
// focused so that a barcode scanned at any moment lands in it.
document.addEventListener("DOMContentLoaded", function () {
  var print = document.querySelector("[data-print]");
  if (print) {
    print.hidden = false;
    print.addEventListener("click", function () { window.print(); });
  }
  var code = document.getElementById("f-code");
  if (code && !document.getElementById("error-summary")) { code.focus(); code.select(); }
});
