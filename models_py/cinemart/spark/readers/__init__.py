"""Serving a published Spark build to BI tools over HiveServer2 (the Spark Thrift Server).

`thrift_server` starts the server from pyspark's own jars on 127.0.0.1 with a
metastore of its own; `mirror` follows the build's published versions and
registers each one in that metastore (docs/spark.md).
"""
