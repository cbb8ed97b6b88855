"""Six short recipe texts with labels (one missing) and metadata (one value missing): the small
text dataset the item table's and the search's tests share."""

from __future__ import annotations

import numpy as np

from embedview.core.dataset import Dataset

FRUIT = ["Apple pie recipe", "banana bread", "Cherry tart", "apple crumble", "Date squares", "elderflower cordial"]


def recipes() -> Dataset:
    return Dataset(
        modality="text",
        ids=[f"recipes.txt:{i + 1}" for i in range(len(FRUIT))],
        sources=["/data/recipes.txt"] * len(FRUIT),
        labels=np.array(["baking", "baking", None, "baking", "baking", "drinks"], dtype=object),
        texts=list(FRUIT),
        metadata={"minutes": [60, 75, None, 45, 30, 10], "origin": ["uk", "us", "fr", "uk", "ca", "uk"]},
        name="recipes",
    )
