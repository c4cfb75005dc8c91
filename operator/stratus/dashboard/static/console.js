// The console's own script: the CSRF header on every change, the project picker, the quota
// charts, and errors shown where the person acted. No inline script anywhere: the console's
// Content-Security-Policy allows scripts from its own origin only.
"use strict";

function csrfToken() {
  const found = document.cookie.split("; ").find((c) => c.startsWith("csrftoken="));
  return found ? decodeURIComponent(found.slice("csrftoken=".length)) : "";
}

document.addEventListener("htmx:configRequest", (event) => {
  if (event.detail.verb !== "get") {
    event.detail.headers["x-csrftoken"] = csrfToken();
  }
});

// A refusal the page did not place itself (a 403 from the CSRF check, a 500) goes to the
// notice area at the top, with the server's own words.
document.addEventListener("htmx:responseError", (event) => {
  const notice = document.getElementById("notice");
  if (notice) {
    notice.textContent = event.detail.xhr.responseText || event.detail.xhr.statusText;
    notice.className = "notice bad";
  }
});

// A live update redraws a part of the page that a person may be filling in: what they chose or
// typed in a form there survives the redraw, as long as the new form still offers it. A form
// sent successfully forgets it.
function controlKey(control) {
  const form = control.closest("form");
  return `${form ? form.getAttribute("hx-post") : ""} ${control.name}`;
}

const choicesBeforeSwap = new WeakMap();
function rememberChoice(event) {
  if (event.target.name) {
    event.target.dataset.chosen = "true";
  }
}
document.addEventListener("input", rememberChoice);
document.addEventListener("change", rememberChoice);
document.addEventListener("htmx:beforeSwap", (event) => {
  const chosen = event.detail.target.querySelectorAll("[data-chosen]");
  choicesBeforeSwap.set(event.detail.target, [...chosen].map((c) => [controlKey(c), c.value]));
});
document.addEventListener("htmx:afterSwap", (event) => {
  const choices = new Map(choicesBeforeSwap.get(event.detail.target) || []);
  event.detail.target.querySelectorAll("[name]").forEach((control) => {
    const value = choices.get(controlKey(control));
    const offered = control.tagName !== "SELECT" || [...control.options].some((o) => o.value === value);
    if (value !== undefined && offered) {
      control.value = value;
      control.dataset.chosen = "true";
    }
  });
});
document.addEventListener("htmx:afterRequest", (event) => {
  if (event.detail.successful && event.detail.elt.tagName === "FORM") {
    event.detail.elt.querySelectorAll("[data-chosen]").forEach((c) => delete c.dataset.chosen);
  }
});

// A quota's doughnut: used against what is left, red once the limit is reached; an unlimited
// quota is an empty ring, its use written under it.
function drawGauge(canvas) {
  const used = Number(canvas.dataset.used);
  const limited = canvas.dataset.limit !== "";
  const limit = Number(canvas.dataset.limit);
  const styles = getComputedStyle(document.body);
  const colour = (name) => styles.getPropertyValue(name).trim();
  const full = limited && used >= limit;
  new Chart(canvas, {
    type: "doughnut",
    data: {
      labels: ["Used", "Left"],
      datasets: [{
        data: limited ? [used, Math.max(0, limit - used)] : [0, 1],
        backgroundColor: [colour(full ? "--stratus-bad" : "--stratus-good"), "#dfe3eb"],
        borderWidth: 0,
      }],
    },
    options: {
      animation: false,
      cutout: "70%",
      plugins: { legend: { display: false }, tooltip: { enabled: limited } },
    },
  });
}

htmx.onLoad((root) => {
  root.querySelectorAll("canvas[data-gauge]").forEach(drawGauge);
  root.querySelectorAll("select[data-navigate]").forEach((select) => {
    select.addEventListener("change", () => { window.location.assign(select.value); });
  });
});

// A page's live streams end with the page: closed before it goes, they report no error; a
// page the browser brings back from its cache reloads, to follow the API again.
const liveStreams = new Set();
document.addEventListener("htmx:sseOpen", (event) => { liveStreams.add(event.detail.source); });
window.addEventListener("pagehide", () => {
  liveStreams.forEach((source) => source.close());
  liveStreams.clear();
});
window.addEventListener("pageshow", (event) => {
  if (event.persisted) {
    window.location.reload();
  }
});
