"""CSV downloads that a spreadsheet opens safely."""
from __future__ import annotations

import csv
import io
from collections.abc import Iterable

from flask import Response, stream_with_context

# A cell starting with one of these is read as a formula by spreadsheet programs (CSV injection).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value) -> str:
    """The value as CSV cell text; text a spreadsheet would run as a formula gets a leading `'`."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def csv_response(filename: str, header: list[str], rows: Iterable[Iterable]) -> Response:
    """A streamed CSV attachment: the header, then each row with every cell made spreadsheet-safe."""

    def lines():
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        for row in ([header], rows):
            for cells in row:
                writer.writerow([spreadsheet_safe(cell) for cell in cells])
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()

    return Response(stream_with_context(lines()), mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"})
