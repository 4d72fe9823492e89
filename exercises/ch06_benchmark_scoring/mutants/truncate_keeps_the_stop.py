"""Keeps the stop sequence itself at the end of the completion."""

MUST_FAIL = ("check_truncate_at_stops",)


def truncate_at_stops(text, stops):
    positions = [(text.find(stop), stop) for stop in stops if stop and stop in text]
    if not positions:
        return text
    position, stop = min(positions)
    return text[:position + len(stop)]
