// A few lines of behaviour, no build step.
// [data-refresh-url]: replaced every few seconds by the server-rendered fragment at that URL,
//   while it still contains [data-live] (something running).
// [data-copy]: copies the text of the element it names to the clipboard.
// .progress[aria-valuenow]: its bar's width (set here, not in a style attribute, for the CSP).
(function () {
  function bars(root) {
    root.querySelectorAll(".progress[aria-valuenow] > .progress-bar").forEach(function (bar) {
      bar.style.width = bar.parentNode.getAttribute("aria-valuenow") + "%";
    });
  }
  function refresh(el) {
    var interval = parseInt(el.getAttribute("data-refresh-interval") || "2000", 10);
    function tick() {
      if (!el.querySelector("[data-live]")) return;
      fetch(el.getAttribute("data-refresh-url"), {credentials: "same-origin", headers: {"X-Requested-With": "fetch"}})
        .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
        .then(function (html) { el.innerHTML = html; bars(el); })
        .catch(function () {})
        .finally(function () { setTimeout(tick, interval); });
    }
    setTimeout(tick, interval);
  }
  bars(document);
  document.querySelectorAll("[data-refresh-url]").forEach(refresh);
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (!button) return;
    var source = document.getElementById(button.getAttribute("data-copy"));
    navigator.clipboard.writeText(source.textContent.trim()).then(function () {
      button.textContent = "Copied";
    });
  });
  document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
    select.addEventListener("change", function () { select.form.submit(); });
  });
})();
