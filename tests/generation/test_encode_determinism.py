"""The same frames give byte-identical H.264 files, in separate processes running at the same time
(as media workers do) and in this one: a video's sha256 identifies its frames."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

from generation.encode import video_encode
from juice.files import file_sha256

ENCODE = "import sys, numpy as np; from pathlib import Path; from generation.encode import video_encode; " \
         "video_encode(frames=np.load(sys.argv[1]), path=Path(sys.argv[2]), fps=8)"


def test_the_same_frames_encode_to_the_same_bytes_across_processes(tmp_path):
    frames = np.random.default_rng(0).integers(0, 256, size=(25, 96, 128, 3), dtype=np.uint8)
    np.save(tmp_path / "frames.npy", frames)
    root = Path(__file__).resolve().parents[2]
    workers = [
        subprocess.Popen([sys.executable, "-c", ENCODE, str(tmp_path / "frames.npy"), str(tmp_path / f"p{i}.mp4")], cwd=root)
        for i in range(3)
    ]
    assert [w.wait(timeout=120) for w in workers] == [0, 0, 0]
    video_encode(frames=frames, path=tmp_path / "here.mp4", fps=8)
    hashes = {file_sha256(p) for p in tmp_path.glob("*.mp4")}
    assert len(list(tmp_path.glob("*.mp4"))) == 4 and len(hashes) == 1
