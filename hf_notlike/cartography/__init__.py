# Copyright 2026 The hf_notlike developers. Licensed under the Apache License, Version 2.0.
"""Dataset cartography (Swayamdipta et al., EMNLP 2020): record training dynamics with a stock `Trainer`
([`CartographyCallback`]) and plot, select from and share the resulting [`DataMap`]."""

from .build import DataMapBuildConfig, build_data_map, load_training_data
from .callback import ID_KEY, STATE_FILE, TASKS, CartographyCallback, CartographyConfig
from .datamap import DATA_MAP_FILE, METADATA_FILE, REGIONS, UNIT_FILES, DataMap, DataMapSelection
from .plotting import plot_data_map

__all__ = [
    "CartographyCallback",
    "CartographyConfig",
    "DataMapBuildConfig",
    "build_data_map",
    "load_training_data",
    "DataMap",
    "DataMapSelection",
    "plot_data_map",
    "REGIONS",
    "TASKS",
    "UNIT_FILES",
    "ID_KEY",
    "STATE_FILE",
    "DATA_MAP_FILE",
    "METADATA_FILE",
]
