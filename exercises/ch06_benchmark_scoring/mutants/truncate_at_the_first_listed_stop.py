"""Cuts at the first stop sequence of the list that occurs, not at the earliest position in the text."""

MUST_FAIL = ("check_truncate_at_stops",)


def truncate_at_stops(text, stops):
    for stop in stops:
        if stop and stop in text:
            return text[:text.index(stop)]
    return text
