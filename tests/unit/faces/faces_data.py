"""Fixture photos and what they show, shared by the face tests (see SOURCES.md next to them)."""

from __future__ import annotations

from tests.helpers import FACES

PHOTOS = sorted(p.name for p in FACES.glob("*") if p.suffix.lower() in {".jpg", ".jpeg", ".png"})

# what each fixture photo shows (see SOURCES.md there)
FACE_COUNTS = {
    "32bit.png": 1,
    "alex-lacamoire.png": 1,
    "biden.jpg": 1,
    "lin-manuel-miranda.png": 1,
    "obama-1080p.jpg": 1,
    "obama-240p.jpg": 1,
    "obama.jpg": 1,
    "obama2.jpg": 1,
    "obama_and_biden.jpg": 3,
    "obama_partial_face.jpg": 1,
    "obama_small.jpg": 1,
    "rose_leslie_img1.jpg": 1,
    "two_people.jpg": 2,
}
SINGLE_PORTRAITS = [
    "32bit.png",
    "alex-lacamoire.png",
    "biden.jpg",
    "lin-manuel-miranda.png",
    "obama-1080p.jpg",
    "obama-240p.jpg",
    "obama.jpg",
    "obama2.jpg",
    "obama_small.jpg",
    "rose_leslie_img1.jpg",
]
CLEAN_PORTRAITS = [
    "obama.jpg",
    "obama2.jpg",
    "obama-1080p.jpg",
    "biden.jpg",
    "alex-lacamoire.png",
    "rose_leslie_img1.jpg",
    "lin-manuel-miranda.png",
    "32bit.png",
]
SAME_PERSON = sorted(n for n in FACE_COUNTS if n.startswith("obama") and n != "obama_and_biden.jpg") + [
    "32bit.png"
]
DIFFERENT_PEOPLE = [
    "obama.jpg",
    "biden.jpg",
    "alex-lacamoire.png",
    "rose_leslie_img1.jpg",
    "lin-manuel-miranda.png",
]


def read_photo(name: str) -> bytes:
    return (FACES / name).read_bytes()
