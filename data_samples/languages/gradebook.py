"""A tiny gradebook, written for the codellama-lite workbook (not part of the standard library)."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field


@dataclass
class Student:
    name: str
    scores: dict[str, float] = field(default_factory=dict)

    def average(self) -> float:
        if not self.scores:
            raise ValueError(f"{self.name} has no scores yet")
        return statistics.fmean(self.scores.values())


class Gradebook:
    def __init__(self, passing: float = 50.0) -> None:
        self.passing = passing
        self.students: dict[str, Student] = {}

    def record(self, name: str, assignment: str, score: float) -> None:
        if not 0 <= score <= 100:
            raise ValueError(f"score must be within 0..100, got {score}")
        self.students.setdefault(name, Student(name)).scores[assignment] = score

    def ranking(self) -> list[tuple[str, float]]:
        rows = [(s.name, round(s.average(), 1)) for s in self.students.values() if s.scores]
        return sorted(rows, key=lambda row: (-row[1], row[0]))

    def failing(self) -> list[str]:
        return [name for name, mean in self.ranking() if mean < self.passing]


if __name__ == "__main__":
    book = Gradebook(passing=60)
    for name, assignment, score in [("ana", "hw1", 91), ("ben", "hw1", 55), ("ana", "hw2", 78), ("ben", "hw2", 61),
                                    ("chloe", "hw1", 70)]:
        book.record(name, assignment, score)
    for position, (name, mean) in enumerate(book.ranking(), start=1):
        print(f"{position}. {name:<6} {mean:5.1f}")
    print("below the bar:", ", ".join(book.failing()) or "nobody")
