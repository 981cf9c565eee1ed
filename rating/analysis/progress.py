"""Progress of a study: ratings done against ratings expected (assignments x outputs), per rater and case."""
from __future__ import annotations

import pandas as pd


def progress_tables(ratings: pd.DataFrame, expected: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Ratings done against expected, per rater and per case (hidden repeats count as work)."""
    done = ratings.groupby(["rater", "case_id", "repeat_index"]).size().rename("done").reset_index()
    merged = expected.merge(done, on=["rater", "case_id", "repeat_index"], how="outer")
    merged["n_outputs"] = merged["n_outputs"].fillna(0)
    merged["done"] = merged["done"].fillna(0)
    merged["complete"] = (merged["done"] >= merged["n_outputs"]) & (merged["n_outputs"] > 0)

    def summarise(key: str) -> pd.DataFrame:
        if merged.empty:
            return pd.DataFrame(columns=[key, "assignments", "complete", "ratings_done", "ratings_expected",
                                         "percent_done"])
        g = merged.groupby(key).agg(assignments=("n_outputs", "size"), complete=("complete", "sum"),
                                    ratings_done=("done", "sum"), ratings_expected=("n_outputs", "sum"))
        g = g.astype("int64")
        g["percent_done"] = (100 * g["ratings_done"] / g["ratings_expected"].where(g["ratings_expected"] > 0)).round(1)
        return g.reset_index()

    return summarise("rater"), summarise("case_id")
