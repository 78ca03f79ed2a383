/* The store locator's "Use my location": where the browser can tell its position, fill the
   form's lat and lng and submit it. Without JavaScript or a position the postal code works. */
(function () {
  "use strict";
  var button = document.getElementById("use-location");
  var form = document.getElementById("locator-form");
  var status = document.getElementById("locator-status");
  if (!button || !form || !navigator.geolocation) { return; }
  button.hidden = false;
  button.addEventListener("click", function () {
    status.textContent = "Finding your location…";
    navigator.geolocation.getCurrentPosition(function (where) {
      document.getElementById("f-lat").value = where.coords.latitude.toFixed(5);
      document.getElementById("f-lng").value = where.coords.longitude.toFixed(5);
      document.getElementById("f-postal_code").value = "";
      form.submit();
    }, function () {
      status.textContent = "Your location is not available; enter a postal code.";
    }, { timeout: 10000, maximumAge: 600000 });
  });
}());
