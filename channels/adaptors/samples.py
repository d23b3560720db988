"""Small, real, playable MP4 clips (320x180, H.264) bundled for the sandbox vendor."""

from pathlib import Path

MEDIA_DIR = Path(__file__).resolve().parent / "media"
DURATIONS = (4, 5, 8, 10, 12)


def sample_video_path(seconds=5):
    """The bundled clip closest to ``seconds`` long."""
    best = min(DURATIONS, key=lambda d: (abs(d - (seconds or 5)), d))
    return MEDIA_DIR / f"sample-{best}s.mp4"


def sample_video_bytes(seconds=5):
    return sample_video_path(seconds).read_bytes()
