/* Stripe's Payment Element on the storefront's checkout page (loaded only when the store has a
   real Stripe publishable key): the card is collected by Stripe's frame, turned into a
   PaymentMethod, and its id sent with the form, which Mercato confirms server-side. */
(function () {
  "use strict";
  var mount = document.getElementById("payment-element");
  var form = document.getElementById("checkout-form");
  if (!mount || !form || typeof window.Stripe !== "function") { return; }
  var stripe = window.Stripe(mount.dataset.key);
  var places = mount.dataset.currency === "jpy" ? 1 : 100;
  var elements = stripe.elements({
    mode: "payment", currency: mount.dataset.currency,
    amount: Math.max(1, Math.round(parseFloat(mount.dataset.amount || "0") * places)),
    paymentMethodCreation: "manual"
  });
  elements.create("payment").mount(mount);
  var hidden = document.getElementById("f-payment_method_id");
  form.addEventListener("submit", function (event) {
    var chosen = form.querySelector('input[name="payment_method"]:checked');
    var submitter = event.submitter;
    if (!chosen || chosen.value !== "stripe" || hidden.value ||
        (submitter && submitter.value !== "place")) { return; }
    event.preventDefault();
    elements.submit().then(function (checked) {
      if (checked.error) { return; }
      return stripe.createPaymentMethod({ elements: elements }).then(function (made) {
        if (made.error) { return; }
        hidden.value = made.paymentMethod.id;
        var place = document.createElement("input");
        place.type = "hidden"; place.name = "action"; place.value = "place";
        form.appendChild(place);
        form.submit();
      });
    });
  });
}());
