// Each pair plays together: one button starts and pauses both; the right side follows the left's
// clock when they drift apart, as on the rating page.
document.querySelectorAll(".pair").forEach(function (pair) {
  const videos = pair.querySelectorAll("video");
  const button = pair.querySelector(".play-pair");
  if (!button || videos.length !== 2) return;
  const [left, right] = videos;
  button.addEventListener("click", function () {
    if (left.paused) {
      right.currentTime = left.currentTime;
      videos.forEach(function (v) { v.play().catch(function () {}); });
    } else {
      videos.forEach(function (v) { v.pause(); });
    }
  });
  left.addEventListener("timeupdate", function () {
    if (!right.paused && Math.abs(right.currentTime - left.currentTime) > 0.1) right.currentTime = left.currentTime;
  });
  left.addEventListener("seeked", function () { right.currentTime = left.currentTime; });
});
