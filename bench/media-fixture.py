#!/usr/bin/env python3
"""Makes a phone-camera-like JPEG for the media benchmarks: 4032x3024, about 3 MB,
with EXIF (camera, date, Orientation) and a GPS block, like a photo straight from a
phone. Needs Pillow and piexif (pip install pillow piexif).

    bench/media-fixture.py OUT.jpg [ORIENTATION]
"""
import random
import sys

import piexif
from PIL import Image, ImageDraw, ImageFilter


def main():
    out = sys.argv[1]
    orientation = int(sys.argv[2]) if len(sys.argv) > 2 else 6
    random.seed(12)
    w, h = 4032, 3024
    # Smooth shapes plus sensor-like noise: compresses like a real photo (~3 MB at q93).
    img = Image.new("RGB", (w, h), (120, 140, 160))
    draw = ImageDraw.Draw(img)
    for _ in range(400):
        x, y = random.randrange(w), random.randrange(h)
        r = random.randrange(40, 600)
        colour = tuple(random.randrange(256) for _ in range(3))
        draw.ellipse((x - r, y - r, x + r, y + r), fill=colour)
    img = img.filter(ImageFilter.GaussianBlur(6))
    noise = Image.effect_noise((w, h), 18).convert("RGB")
    img = Image.blend(img, noise, 0.22)
    exif = {
        "0th": {
            piexif.ImageIFD.Make: b"natter-bench",
            piexif.ImageIFD.Model: b"Phone 12",
            piexif.ImageIFD.Orientation: orientation,
        },
        "Exif": {piexif.ExifIFD.DateTimeOriginal: b"2026:11:24 20:01:02"},
        "GPS": {
            piexif.GPSIFD.GPSLatitudeRef: b"N",
            piexif.GPSIFD.GPSLatitude: ((48, 1), (51, 1), (2400, 100)),
            piexif.GPSIFD.GPSLongitudeRef: b"E",
            piexif.GPSIFD.GPSLongitude: ((2, 1), (21, 1), (300, 100)),
        },
    }
    img.save(out, "JPEG", quality=93, exif=piexif.dump(exif))


if __name__ == "__main__":
    main()
