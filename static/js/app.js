// A few lines of behaviour, no build step.
// [data-refresh-url]: refreshed from the server-rendered fragment at that URL every
//   data-refresh-interval ms while it contains [data-live] (something running); with
//   data-refresh-idle, also every that many ms when nothing runs (the first page of the task list,
//   where new tasks appear), skipping the fetch while the tab is hidden. With data-refresh-keyed,
//   only the children (rows with an id) whose HTML changed are replaced, so the others (their
//   thumbnails) stay as they are.
// video[data-src]: a thumbnail, loaded (its first frame) once it scrolls into view.
// [data-copy]: copies the text of the element it names to the clipboard.
// .progress[aria-valuenow]: its bar's width (set here, not in a style attribute, for the CSP).
(function () {
  function bars(root) {
    root.querySelectorAll(".progress[aria-valuenow] > .progress-bar").forEach(function (bar) {
      bar.style.width = bar.parentNode.getAttribute("aria-valuenow") + "%";
    });
  }
  function load(video) {
    video.preload = "metadata";
    video.src = video.getAttribute("data-src");
  }
  var inView = "IntersectionObserver" in window && new IntersectionObserver(function (entries) {
    entries.forEach(function (entry) {
      if (entry.isIntersecting) { inView.unobserve(entry.target); load(entry.target); }
    });
  });
  function thumbs(root) {
    root.querySelectorAll("video[data-src]:not([src])").forEach(function (video) {
      if (inView) inView.observe(video); else load(video);
    });
  }
  function remember(el) {  // the HTML each child came as, before bars() and thumbs() touched it
    Array.prototype.forEach.call(el.children, function (child) { child._source = child.outerHTML; });
  }
  function merge(el, html) {
    var fresh = document.createElement("template");
    fresh.innerHTML = html;
    var old = {};
    Array.prototype.forEach.call(el.children, function (child) { if (child.id) old[child.id] = child; });
    var nodes = Array.prototype.map.call(fresh.content.children, function (child) {
      var kept = child.id && old[child.id];
      if (kept && kept._source === child.outerHTML) return kept;
      child._source = child.outerHTML;
      return child;
    });
    el.replaceChildren.apply(el, nodes);
  }
  function refresh(el) {
    var interval = parseInt(el.getAttribute("data-refresh-interval") || "2000", 10);
    var idle = parseInt(el.getAttribute("data-refresh-idle") || "0", 10);
    var keyed = el.hasAttribute("data-refresh-keyed");
    function schedule() {
      var delay = el.querySelector("[data-live]") ? interval : idle;
      if (delay) setTimeout(tick, delay);
    }
    function tick() {
      if (document.hidden) return schedule();
      fetch(el.getAttribute("data-refresh-url"), {credentials: "same-origin", headers: {"X-Requested-With": "fetch"}})
        .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
        .then(function (html) {
          if (keyed) merge(el, html); else el.innerHTML = html;
          bars(el);
          thumbs(el);
        })
        .catch(function () {})
        .finally(schedule);
    }
    if (keyed) remember(el);
    schedule();
  }
  document.querySelectorAll("[data-refresh-url]").forEach(refresh);
  bars(document);
  thumbs(document);
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (!button) return;
    var source = document.getElementById(button.getAttribute("data-copy"));
    navigator.clipboard.writeText(source.textContent.trim()).then(function () {
      button.textContent = document.body.getAttribute("data-copied") || "Copied";
    });
  });
  document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
    select.addEventListener("change", function () { select.form.submit(); });
  });
})();

// Layout and confirmations (kept apart from the live-refresh code above).
// form[data-confirm]: submitting asks window.confirm(its message) first; Cancel sends nothing.
//   (Without JS the form submits at once.)
// .menu-toggle: on phones the sidebar is a top bar; its menu folds behind this button (CSS shows
//   the button and hides the folded menu only under 800 px; without JS the menu stays open).
// .table-wrap: focusable (Tab, then arrow keys) while its table is wider than it.
(function () {
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.matches || !form.matches("form[data-confirm]")) return;
    if (!window.confirm(form.getAttribute("data-confirm"))) event.preventDefault();
  });
  document.querySelectorAll(".menu-toggle").forEach(function (button) {
    var sidebar = button.closest(".sidebar");
    function fold(folded) {
      sidebar.classList.toggle("collapsed", folded);
      button.setAttribute("aria-expanded", folded ? "false" : "true");
    }
    button.hidden = false;
    fold(true);
    button.addEventListener("click", function () { fold(!sidebar.classList.contains("collapsed")); });
  });
  // A table wider than the screen scrolls inside its .table-wrap: keyboard users reach it with Tab.
  function scrollable() {
    document.querySelectorAll(".table-wrap").forEach(function (wrap) {
      if (wrap.scrollWidth > wrap.clientWidth) wrap.tabIndex = 0;
      else wrap.removeAttribute("tabindex");
    });
  }
  scrollable();
  window.addEventListener("resize", scrollable);
})();
