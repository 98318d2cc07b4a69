#!/usr/bin/env bash
# Makes internal/webfont's font files: Noto Sans CJK KR (SIL Open Font
# License 1.1), cut down to the 2,350 Hangul syllables of KS X 1001 (the
# set every Korean encoding and keyboard covers), the compatibility jamo,
# CJK punctuation and ASCII, renamed "Waitroom Sans KR" (a modified version,
# as the licence asks), as WOFF2. About 150 KB a weight, against 16 MB for
# the whole collection. Run it only to change the set; the output is
# committed. Needs Debian's fonts-noto-cjk, python3-fonttools and
# python3-brotli (apt-get install them).
set -euo pipefail
cd "$(dirname "$0")/../internal/webfont"
/usr/bin/python3 - <<'PY'
from fontTools import subset
from fontTools.ttLib import TTCollection

chars = {cp for cp in range(0xAC00, 0xD7A4) if len(chr(cp).encode("euc-kr")) == 2}  # KS X 1001
chars |= set(range(0x20, 0x7F)) | set(range(0x3131, 0x318F)) | set(range(0x3000, 0x3040))
chars |= set(range(0x2010, 0x2027)) | set(range(0x2190, 0x2194)) | {0xA0, 0xB7, 0xD7, 0x203B, 0x25CB, 0x25CF, 0xFF5E}
for weight, style in (("400", "Regular"), ("700", "Bold")):
    font = TTCollection(f"/usr/share/fonts/opentype/noto/NotoSansCJK-{style}.ttc").fonts[1]  # KR
    opts = subset.Options()
    opts.flavor, opts.hinting, opts.desubroutinize = "woff2", False, True
    opts.layout_features = ["kern", "liga", "calt", "locl"]
    opts.name_IDs = [0, 1, 2, 3, 4, 5, 6, 13, 14]
    s = subset.Subsetter(opts)
    s.populate(unicodes=chars)
    s.subset(font)
    for rec in font["name"].names:
        if rec.nameID in (1, 4, 16):
            rec.string = "Waitroom Sans KR" + ("" if rec.nameID != 4 or style == "Regular" else " Bold")
        elif rec.nameID in (3, 6):
            rec.string = "WaitroomSansKR-" + style
    font.flavor = "woff2"
    font.save(f"waitroom-sans-kr-{weight}.woff2")
PY
ls -l waitroom-sans-kr-*.woff2
