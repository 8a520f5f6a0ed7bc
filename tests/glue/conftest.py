"""One local SparkSession for every Glue test (JVM start-up costs seconds; pay it once)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

pyspark = pytest.importorskip("pyspark")


@pytest.fixture(scope="session")
def spark() -> Iterator[object]:
    from pyspark.sql import SparkSession

    from glue_jobs.machine_health import SPARK_CONF

    builder = (
        SparkSession.builder.master("local[2]")
        .appName("rotorwatch-glue-tests")
        # Tiny test data: 2 shuffle partitions instead of 200 keeps each stage fast.
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
    )
    for key, value in SPARK_CONF.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()
