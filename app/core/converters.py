"""URL converters: every `<int:...>` in a route is a database id, so it is bounded like one."""
from werkzeug.routing import IntegerConverter

from app.models.base import MAX_INTEGER_ID


class IdConverter(IntegerConverter):
    """`<int:...>` limited to 1..MAX_INTEGER_ID: a larger number does not match the route (404)
    instead of overflowing the database driver."""

    def __init__(self, map, fixed_digits=0, min=1, max=MAX_INTEGER_ID, signed=False):
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)
