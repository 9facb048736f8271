// Progressive enhancement only: every page works without this script.
// - GOV.UK Frontend's components (conditional reveals, character counts, error summary focus)
// - a trial's page follows its progress (its JSON twin, every 2 seconds) and swaps in the
//   fresh status, links and timeline when something happened, announcing the new status; each
//   poll sends the last answer's ETag, so an unchanged trial costs a bodiless 304
// - the countdown ticks every second, and a warning appears (and is announced once) before
//   the sandbox is deleted
// - the "waking up" page asks its own JSON twin every 2 seconds and, once the sandbox is awake,
//   loads itself again, which goes on into the sandbox (without script: "Check again")
// Loaded as an external module: the Content-Security-Policy allows no inline script.
import { initAll } from "/static/govuk-frontend/govuk-frontend.min.js";

initAll();

const PHASE_WORDS = {
  PendingApproval: "Waiting for approval", Requested: "Requested", Provisioning: "Starting",
  Ready: "Ready", Sleeping: "Asleep", Stopping: "Ending", Stopped: "Ended", Failed: "Failed",
};

function announce(text) {
  const announcer = document.getElementById("trial-announcer");
  if (announcer) announcer.textContent = text;
}

function words(seconds) {
  let left = Math.max(Math.floor(seconds), 0);
  const parts = [];
  for (const [name, size] of [["day", 86400], ["hour", 3600], ["minute", 60], ["second", 1]]) {
    const count = Math.floor(left / size);
    left -= count * size;
    if (count) parts.push(`${count} ${name}${count === 1 ? "" : "s"}`);
  }
  return parts.slice(0, 2).join(" ") || "0 seconds";
}

function countdown(element) {
  const left = element.querySelector(".den-countdown__left");
  const warning = element.querySelector(".den-countdown__warning");
  const warnBefore = Number(element.dataset.warnBefore);
  // The server's count at render time, not the browser's clock, which may be wrong.
  const deadline = performance.now() + Number(element.dataset.timeLeft) * 1000;
  let warned = !warning.hidden;
  const tick = () => {
    if (!element.isConnected) return;  // replaced by a fresher copy, which counts itself
    const seconds = Math.max((deadline - performance.now()) / 1000, 0);
    left.textContent = words(seconds);
    if (!warned && seconds <= warnBefore) {
      warned = true;
      warning.hidden = false;
      announce(`The sandbox will be deleted in ${words(seconds)}.`);
    }
    if (seconds > 0) setTimeout(tick, 1000);
  };
  tick();
}

async function refresh(trialId) {
  const answer = await fetch(`/trials/${trialId}`, { credentials: "same-origin" });
  if (!answer.ok) return;
  const fresh = new DOMParser().parseFromString(await answer.text(), "text/html");
  for (const id of ["trial-live", "actions", "trial-about"]) {
    const current = document.getElementById(id);
    const replacement = fresh.getElementById(id);
    // Never pull a form from under someone who is filling it in.
    if (!current || !replacement || current.contains(document.activeElement)) continue;
    current.replaceWith(document.adoptNode(replacement));
    initAll(replacement);
    replacement.querySelectorAll(".den-countdown").forEach(countdown);
  }
  document.querySelectorAll(".den-refresh").forEach((p) => { p.hidden = true; });
}

function follow(live) {
  const trialId = live.dataset.trialId;
  let phase = live.dataset.phase;
  let events = Number(live.dataset.events);
  let etag = null;
  live.querySelectorAll(".den-refresh").forEach((p) => { p.hidden = true; });
  const poll = async () => {
    try {
      // The tag is sent by hand and the HTTP cache left out ("no-store"), so a 304 reaches
      // this code as it is: nothing changed since the last answer, nothing to do.
      const answer = await fetch(`/trials/${trialId}.json`, {
        credentials: "same-origin",
        cache: "no-store",
        headers: etag ? { "If-None-Match": etag } : {},
      });
      if (answer.ok) {
        etag = answer.headers.get("ETag");
        const page = await answer.json();
        if (page.trial.phase !== phase || page.events.length !== events) {
          await refresh(trialId);
          if (page.trial.phase !== phase) {
            announce(`Status: ${PHASE_WORDS[page.trial.phase] || page.trial.phase}. ${page.status_text ?? page.trial.message}`);
          }
          phase = page.trial.phase;
          events = page.events.length;
        }
      }
    } catch (error) {
      // The service may be restarting: try again at the next tick.
    }
    if (phase !== "Stopped") setTimeout(poll, 2000);
  };
  if (phase !== "Stopped") setTimeout(poll, 2000);
}

function awaitWaking(element) {
  const twin = `${window.location.pathname}.json${window.location.search}`;
  const poll = async () => {
    try {
      const answer = await fetch(twin, { credentials: "same-origin", cache: "no-store" });
      if (answer.ok && (await answer.json()).waking !== true) {
        announce("Your sandbox is awake. Opening it.");
        window.location.reload();
        return;
      }
    } catch (error) {
      // The service may be restarting: try again at the next tick.
    }
    setTimeout(poll, 2000);
  };
  setTimeout(poll, Number(element.dataset.checkEvery) * 1000);
}

document.querySelectorAll(".den-countdown").forEach(countdown);
const waking = document.getElementById("sandbox-waking");
if (waking) awaitWaking(waking);
const live = document.getElementById("trial-live");
if (live) follow(live);
