"""One lake table in the Glue Data Catalog, as ``rotorwatch.lake.layout`` lays it out.

Defaults: an external table over the table's prefix in the lake bucket, partition projection
over the same layout Firehose and the Glue job write (so no crawler), partition values kept as
strings ("07" stays "07", as in the S3 paths and local Spark), the storage of its format
(Parquet, or gzip'd JSON whose malformed values read as NULL instead of failing the query).
Attribute: ``table`` (the CfnTable; Firehose's Parquet conversion reads its schema).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from aws_cdk import Stack
from aws_cdk import aws_glue as glue
from constructs import Construct

from rotorwatch.diagnosis.features.schema import Field
from rotorwatch.lake import layout as lake

#: Hive storage of each lake format (what Athena and Firehose's conversion read the tables as).
STORAGE: Final[dict[str, dict[str, str]]] = {
    "parquet": {
        "input_format": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
        "output_format": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
        "serde": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe",
        "classification": "parquet",
    },
    "json.gz": {
        "input_format": "org.apache.hadoop.mapred.TextInputFormat",
        "output_format": "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
        "serde": "org.openx.data.jsonserde.JsonSerDe",
        "classification": "json",
    },
}


def columns(fields: Sequence[Field]) -> list[glue.CfnTable.ColumnProperty]:
    return [
        glue.CfnTable.ColumnProperty(name=f.name, type=f.type, comment=f.doc[:255]) for f in fields
    ]


class LakeTable(Construct):
    def __init__(
        self,
        scope: Construct,
        cid: str,
        *,
        t: lake.Table,
        bucket_name: str,
        database: glue.CfnDatabase,
        database_name: str,
    ) -> None:
        super().__init__(scope, cid)
        fmt = STORAGE[t.format]
        params = lake.projection_parameters(t.name, bucket_name)
        params["classification"] = fmt["classification"]
        if t.format == "json.gz":
            params["compressionType"] = "gzip"
        # "Default": the table keeps the logical id it had before this construct existed (a
        # named table cannot be replaced in place).
        self.table = glue.CfnTable(
            self,
            "Default",
            catalog_id=Stack.of(self).account,
            database_name=database_name,
            table_input=glue.CfnTable.TableInputProperty(
                name=t.name,
                table_type="EXTERNAL_TABLE",
                parameters=params,
                partition_keys=[
                    glue.CfnTable.ColumnProperty(name=k, type="string") for k in t.partition_keys
                ],
                storage_descriptor=glue.CfnTable.StorageDescriptorProperty(
                    location=f"s3://{bucket_name}/{t.prefix}",
                    columns=columns(t.fields),
                    input_format=fmt["input_format"],
                    output_format=fmt["output_format"],
                    serde_info=glue.CfnTable.SerdeInfoProperty(
                        serialization_library=fmt["serde"],
                        parameters={"ignore.malformed.json": "true"}
                        if t.format == "json.gz"
                        else {},
                    ),
                ),
            ),
        )
        self.table.node.add_dependency(database)
