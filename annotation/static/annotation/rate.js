// The rating page: fetch an assignment, play both videos in sync, collect the answers, vote, repeat.
// Prompts and labels are user data: they only ever go into the page through textContent.

const config = JSON.parse(document.getElementById("rate-config").textContent);
const $ = (id) => document.getElementById(id);
const left = $("video-left");
const right = $("video-right");
const videos = [left, right];
const MAX_DRIFT = 0.1; // seconds; past this the right video is put back on the left one's time
const REASON_KEYS = "asdfghjkzxcvbnmqweiou"; // letters left free by the other shortcuts (t y l r p)
const TIE_KEYS = ["t", "y"];

let current = null; // the assignment being rated
let wantPlaying = false; // what the rater asked for; stalls and loop restarts don't change it
let stalled = new Set();
let ended = new Set();
let failures = 0; // videos of this item that failed to load, counting retries
const PLAYED_SLACK = 0.15; // seconds of a video that may go unplayed (the last frame's time, rounding)
const FRAME = 1 / 24; // seconds per frame step
let watchMs = 0;
let lastTick = null;
let shortcuts = {};
let busy = false;

function csrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

function showError(text) {
  $("error").textContent = text || "";
}

// While the server's database restarts it answers 503 with Retry-After: wait as it asks and try
// again, saying so, for a few minutes; the rater's answers stay on the page meanwhile. A vote sent
// again after a lost answer is safe: the server stores it once (a second copy is a 409).
const RETRY_FOR_MS = 3 * 60 * 1000;

async function fetchRetrying(url, options) {
  const giveUp = Date.now() + RETRY_FOR_MS;
  for (;;) {
    let response = null;
    try {
      response = await fetch(url, options);
    } catch (err) {
      if (Date.now() > giveUp) throw err;
    }
    if (response && (response.status !== 503 || Date.now() > giveUp)) return response;
    const wait = Number(response && response.headers.get("Retry-After")) || 5;
    showError(`The server is briefly unavailable; trying again in ${wait} s. Your answers are kept.`);
    await new Promise((resolve) => setTimeout(resolve, wait * 1000));
  }
}

// --- playback, both videos together -------------------------------------------------------------

function resume() {
  if (!wantPlaying || stalled.size) return;
  for (const v of videos) if (v.paused && !v.ended) v.play().catch(() => {});
}

function play() {
  wantPlaying = true;
  if (ended.size === 2 || left.ended || right.ended) seek(0);
  resume();
}

function pause() {
  wantPlaying = false;
  for (const v of videos) v.pause();
}

function seek(t) {
  ended.clear();
  const end = Math.min(left.duration || 0, right.duration || 0);
  const time = Math.max(0, Math.min(t, end ? end - 0.01 : t));
  for (const v of videos) v.currentTime = time;
}

for (const v of videos) {
  const other = v === left ? right : left;
  // A stalled video holds the other until it can play again.
  v.addEventListener("waiting", () => {
    if (v.ended) return;
    stalled.add(v);
    other.pause();
  });
  v.addEventListener("playing", () => {
    stalled.delete(v);
    resume();
  });
  v.addEventListener("canplay", () => {
    if (stalled.delete(v)) resume();
  });
  v.addEventListener("error", () => videoFailed());
  v.addEventListener("ended", () => {
    ended.add(v);
    updateSubmit();
    if (ended.size < 2) return; // the other is about to finish: loop them together
    if ($("loop").checked && wantPlaying) {
      seek(0);
      resume();
    } else {
      wantPlaying = false;
    }
  });
}

// Drift correction, the seek bar and the watch-time clock, on one timer.
setInterval(() => {
  const now = performance.now();
  const running = wantPlaying && !left.paused && !stalled.size;
  if (running && lastTick !== null) watchMs += now - lastTick;
  lastTick = now;
  if (running && !right.paused && Math.abs(right.currentTime - left.currentTime) > MAX_DRIFT) {
    right.currentTime = left.currentTime;
  }
  if (current && $("submit").disabled) updateSubmit();
  const seekBar = $("seek");
  if (left.duration && document.activeElement !== seekBar) {
    seekBar.max = String(left.duration);
    seekBar.value = String(left.currentTime);
  }
}, 100);

// How much of a video has actually been played, from the browser's own record of the time ranges it
// played (seeking skips a range; it does not count it): 0 to 1.
function playedShare(v) {
  if (!v.duration || !Number.isFinite(v.duration)) return 0;
  const ranges = [];
  for (let i = 0; i < v.played.length; i++) ranges.push([v.played.start(i), v.played.end(i)]);
  ranges.sort((a, b) => a[0] - b[0]);
  let total = 0;
  let reached = 0;
  for (const [start, end] of ranges) {
    if (end > reached) total += end - Math.max(start, reached);
    reached = Math.max(reached, end);
  }
  return Math.min(1, (total + PLAYED_SLACK) / v.duration);
}

function watchedShare() {
  return Math.min(playedShare(left), playedShare(right));
}

function videoFailed() {
  if (!current) return;
  failures += 1;
  pause();
  $("video-problem").hidden = false;
  $("video-problem-text").textContent =
    failures > 1
      ? "A video still does not play. You can report the problem and go on to the next pair."
      : "A video could not be loaded. Please try again.";
  $("video-retry").hidden = failures > 1;
  if (failures > 1) openReport("video_does_not_play");
}

$("video-retry").addEventListener("click", () => {
  $("video-problem").hidden = true;
  for (const v of videos) {
    const src = v.getAttribute("src");
    v.removeAttribute("src");
    v.load();
    v.src = src;
  }
  play();
});

$("play").addEventListener("click", () => (wantPlaying ? pause() : play()));
$("speed").addEventListener("change", (e) => {
  for (const v of videos) v.playbackRate = Number(e.target.value);
});
for (const [id, step] of [["step-back", -FRAME], ["step-forward", FRAME]]) {
  $(id).addEventListener("click", () => {
    pause();
    seek(left.currentTime + step);
  });
}
$("fullscreen").addEventListener("click", () => {
  const pair = document.querySelector(".videos");
  if (document.fullscreenElement) document.exitFullscreen();
  else if (pair.requestFullscreen) pair.requestFullscreen().catch(() => {});
});
$("restart").addEventListener("click", () => {
  seek(0);
  play();
});
$("seek").addEventListener("input", (e) => seek(Number(e.target.value)));

// --- questions ------------------------------------------------------------------------------------

function kbd(key) {
  const k = document.createElement("kbd");
  k.textContent = key;
  return k;
}

function option(type, name, value, text, key) {
  const label = document.createElement("label");
  const input = document.createElement("input");
  input.type = type;
  input.name = name;
  input.value = value;
  input.addEventListener("change", updateSubmit);
  label.append(input, " ", text, " ");
  if (key) {
    label.append(kbd(key.toUpperCase()));
    shortcuts[key] = input;
  }
  return label;
}

function buildQuestions(questions) {
  const box = $("questions");
  box.replaceChildren();
  shortcuts = {};
  let letter = 0;
  questions.forEach((q, i) => {
    const fieldset = document.createElement("fieldset");
    fieldset.className = "question";
    fieldset.dataset.question = q.key;
    const legend = document.createElement("legend");
    legend.textContent = config.titles[q.key] || q.key;
    const choices = document.createElement("div");
    choices.className = "choices";
    choices.append(
      option("radio", `${q.key}-choice`, "left", "Left", String(2 * i + 1)),
      option("radio", `${q.key}-choice`, "right", "Right", String(2 * i + 2)),
    );
    if (config.options.allow_tie) choices.append(option("radio", `${q.key}-choice`, "tie", "No preference", TIE_KEYS[i]));
    const reasons = document.createElement("div");
    reasons.className = "reasons";
    const why = document.createElement("span");
    why.textContent = "Why?";
    reasons.append(why);
    for (const r of q.reasons) reasons.append(option("checkbox", `${q.key}-reason`, r.key, r.label, REASON_KEYS[letter++]));
    fieldset.append(legend, choices, reasons);
    box.append(fieldset);
  });
}

function answers() {
  const result = {};
  for (const q of current.questions) {
    const choice = document.querySelector(`input[name="${q.key}-choice"]:checked`);
    const reasons = [...document.querySelectorAll(`input[name="${q.key}-reason"]:checked`)].map((i) => i.value);
    result[q.key] = { choice: choice ? choice.value : null, reasons };
  }
  return result;
}

function updateSubmit() {
  if (!current || current.answered) return;
  const missing = Object.values(answers()).some((a) => !a.choice || !a.reasons.length);
  const share = watchedShare();
  // The study's minimum watch time (min_watch_ms): the server refuses a vote with less.
  const waitMs = Math.max(0, config.options.min_watch_ms - watchMs);
  const watched = share >= 1 && waitMs === 0;
  $("watched").textContent = `Watched ${Math.floor(share * 100)}%`;
  $("submit").disabled = busy || !watched || missing;
  $("hint").textContent = share < 1
    ? "Play both videos all the way through, then answer."
    : waitMs > 0
    ? wantPlaying && !left.paused
      ? `Please keep watching: ${Math.ceil(waitMs / 1000)} s more before you can submit.`
      : `Play the videos again: ${Math.ceil(waitMs / 1000)} s more of watching before you can submit.`
    : missing
      ? "Choose a video and tick at least one reason for each question."
      : "Ready to submit.";
}

// --- the assignment cycle -------------------------------------------------------------------------

function showProgress(progress) {
  if (!progress) return;
  $("progress").textContent = progress.total ? `Done ${progress.done} of at most ${progress.total}` : `Done ${progress.done}`;
}

function finish(data) {
  pause();
  current = null;
  $("task").hidden = true;
  $("finished").hidden = false;
  $("finished-message").textContent = data.message || "Thank you: you have finished.";
  $("code-line").hidden = !data.completion_code;
  $("completion-code").textContent = data.completion_code || "";
  if (data.completion_code) handOff(data.completion_code);
}

// Back to the crowd platform with the code: the study's completion URL, or MTurk's external-question
// hand-off (a form posted to turkSubmitTo with the assignmentId), as the join link carried them.
function handOff(code) {
  const params = new URLSearchParams(location.search);
  const assignmentId = params.get("assignmentId");
  const turkSubmitTo = params.get("turkSubmitTo");
  if (config.options.completion_url) {
    $("redirecting").hidden = false;
    location.assign(config.options.completion_url.replaceAll("{code}", encodeURIComponent(code)));
  } else if (assignmentId && assignmentId !== "ASSIGNMENT_ID_NOT_AVAILABLE" && /^https?:\/\//.test(turkSubmitTo || "")) {
    $("redirecting").hidden = false;
    const form = document.createElement("form");
    form.method = "POST";
    form.action = `${turkSubmitTo.replace(/\/+$/, "")}/mturk/externalSubmit`;
    for (const [name, value] of [["assignmentId", assignmentId], ["completion_code", code]]) {
      const input = document.createElement("input");
      input.type = "hidden";
      input.name = name;
      input.value = value;
      form.append(input);
    }
    document.body.append(form);
    form.submit();
  }
}

$("copy-code").addEventListener("click", () => {
  navigator.clipboard.writeText($("completion-code").textContent).then(
    () => ($("copy-code").textContent = "Copied"),
    () => showError("Could not copy: select the code and copy it."),
  );
});

// --- reporting a problem instead of voting ----------------------------------------------------------

function openReport(problem) {
  const box = $("report-problems");
  if (!box.childElementCount) {
    for (const [key, label] of Object.entries(config.problems)) {
      box.append(option("radio", "problem", key, label, null), document.createElement("br"));
    }
  }
  if (problem) box.querySelector(`input[value="${problem}"]`).checked = true;
  $("report").hidden = false;
  $("report").scrollIntoView({ block: "nearest" });
}

$("report-open").addEventListener("click", () => openReport(null));
$("report-cancel").addEventListener("click", () => ($("report").hidden = true));
$("report").addEventListener("submit", async (event) => {
  event.preventDefault();
  const chosen = document.querySelector('input[name="problem"]:checked');
  if (!current || !chosen) {
    showError("Choose what is wrong first.");
    return;
  }
  const url = config.report.replace("ASSIGNMENT", encodeURIComponent(current.assignment));
  const response = await fetchRetrying(url, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken(), Accept: "application/json" },
    body: JSON.stringify({ problem: chosen.value, text: $("report-text").value }),
  });
  const data = await response.json().catch(() => ({}));
  $("report").hidden = true;
  $("report-text").value = "";
  chosen.checked = false;
  if (response.status === 201 && data.next) {
    showError("Thank you: the problem is reported.");
    show(data.next);
  } else if (response.status === 201 || response.status === 409) {
    await loadNext();
  } else {
    showError(data.error || `Error ${response.status}`);
  }
});

async function loadNext() {
  showError("");
  const response = await fetchRetrying(config.next, { credentials: "same-origin", headers: { Accept: "application/json" } });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    showError(data.error || `Error ${response.status}`);
    return;
  }
  show(data);
}

// Show what `next` answered: an assignment to rate, or the end of the study.
function show(data) {
  if (!data.assignment) {
    finish(data);
    return;
  }
  present(data);
}

// --- the qualification: practice pairs with known answers, feedback after each ---------------------

async function loadQualification() {
  showError("");
  $("feedback").hidden = true;
  const response = await fetchRetrying(config.qualification, { credentials: "same-origin", headers: { Accept: "application/json" } });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    showError(data.error || `Error ${response.status}`);
  } else if (data.screened_out) {
    screenOut(data.message);
  } else if (data.pair) {
    present({ ...data.pair, qualification: true });
    $("progress").textContent = `Practice pair ${data.pair.index + 1} of ${data.pair.total}`;
  } else {
    await loadNext();
  }
}

function screenOut(message) {
  pause();
  current = null;
  $("task").hidden = true;
  $("finished").hidden = false;
  $("finished-message").textContent = message;
  $("code-line").hidden = true;
  if (config.options.screenout_url) {
    $("redirecting").hidden = false;
    location.assign(config.options.screenout_url.replaceAll("{code}", "SCREENED_OUT"));
  }
}

async function answerQualification() {
  const response = await fetchRetrying(config.qualification, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken(), Accept: "application/json" },
    body: JSON.stringify({ index: current.index, ...answers() }),
  });
  const data = await response.json().catch(() => ({}));
  if (response.status !== 201) {
    showError(data.error || `Error ${response.status}`);
    return;
  }
  const sides = { left: "Left", right: "Right", tie: "No preference" };
  const expected = Object.entries(data.expected).map(([q, side]) => `${sides[side]} for ${q}`);
  $("feedback-text").textContent = data.correct
    ? "Right: that is the expected answer."
    : `Not quite: the expected answer was ${expected.join(" and ")}.`;
  pause();
  $("feedback").hidden = false;
  $("submit").disabled = true;
  current = { ...current, answered: true, screenedOut: data.screened_out };
}

$("feedback-next").addEventListener("click", () => {
  loadQualification().catch((err) => showError(`Could not load the next pair: ${err}`));
});

function present(data) {
  current = data;
  $("feedback").hidden = true;
  $("report-open").hidden = Boolean(data.qualification);
  wantPlaying = false;
  stalled = new Set();
  ended = new Set();
  failures = 0;
  watchMs = 0;
  $("video-problem").hidden = true;
  $("report").hidden = true;
  $("prompt").textContent = data.prompt;
  const image = $("cond-image");
  image.hidden = !data.image;
  if (data.image) image.src = data.image;
  else image.removeAttribute("src");
  left.src = data.videos.left;
  right.src = data.videos.right;
  buildQuestions(data.questions);
  showProgress(data.progress);
  $("finished").hidden = true;
  $("task").hidden = false;
  updateSubmit();
  play();
}

async function submit(event) {
  event.preventDefault();
  if ($("submit").disabled || !current) return;
  busy = true;
  updateSubmit();
  if (current.qualification) {
    try {
      await answerQualification();
    } finally {
      busy = false;
    }
    return;
  }
  const body = { ...answers(), watch_ms: Math.round(watchMs) };
  // ?next=1: the answer also holds the next assignment, which saves a request per item.
  const url = `${config.vote.replace("ASSIGNMENT", encodeURIComponent(current.assignment))}?next=1`;
  try {
    const response = await fetchRetrying(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken(), Accept: "application/json" },
      body: JSON.stringify(body),
    });
    const data = await response.json().catch(() => ({}));
    if (response.status === 201 && data.next) {
      showError("");
      show(data.next);
    } else if (response.status === 201) {
      await loadNext();
    } else if (response.status === 409) {
      // Already voted, or the lease ran out and the item went to someone else: move on, and say why.
      await loadNext();
      showError(data.error || "This item was no longer yours.");
    } else {
      showError(data.error || `Error ${response.status}`);
    }
  } catch (err) {
    showError(`Could not send your answers; please try again (${err}).`);
  } finally {
    busy = false;
    updateSubmit();
  }
}

$("answers").addEventListener("submit", submit);

document.addEventListener("keydown", (event) => {
  if (!current || event.ctrlKey || event.metaKey || event.altKey) return;
  if (event.target.closest && event.target.closest("#report")) return; // typing a report, not shortcuts
  const key = event.key.length === 1 ? event.key.toLowerCase() : event.key;
  let handled = true;
  if (key === " ") wantPlaying ? pause() : play();
  else if (key === "Enter") $("answers").requestSubmit();
  else if (key === "ArrowLeft") seek(left.currentTime - 1);
  else if (key === "ArrowRight") seek(left.currentTime + 1);
  else if (key === "l") $("loop").checked = !$("loop").checked;
  else if (key === "r") {
    seek(0);
    play();
  } else if (shortcuts[key]) {
    const input = shortcuts[key];
    input.checked = input.type === "radio" ? true : !input.checked;
    updateSubmit();
  } else handled = false;
  if (handled) event.preventDefault();
});

// A touch-only device has no keyboard to speak of: its shortcuts' hints are hidden.
if (matchMedia("(hover: none)").matches || matchMedia("(pointer: coarse)").matches) {
  document.documentElement.classList.add("touch");
}

function start() {
  const first = config.qualification ? loadQualification() : loadNext();
  first.catch((err) => showError(`Could not load the next item: ${err}`));
}

// The study's first page (instructions, consent): recorded once agreed, then the items come.
if (config.intro) {
  const agree = $("consent-agree");
  const proceed = $("intro-continue");
  const collapsed = document.querySelector("details.instructions");
  $("intro").hidden = false;
  if (collapsed) collapsed.hidden = true; // the same instructions, in full on the first page
  if (agree) {
    proceed.disabled = true;
    agree.addEventListener("change", () => (proceed.disabled = !agree.checked));
  }
  proceed.addEventListener("click", async () => {
    const response = await fetchRetrying(config.consent, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRFToken": csrfToken(), Accept: "application/json" },
    });
    if (response.status !== 201) {
      showError(`Error ${response.status}`);
      return;
    }
    $("intro").hidden = true;
    if (collapsed) collapsed.hidden = false;
    start();
  });
} else {
  start();
}
