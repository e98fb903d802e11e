"""Parses a Prometheus text exposition (standard input) with the reference client's parser and prints its samples
as JSON: [{"name", "labels", "value"}]. Exits non-zero if the exposition does not parse."""
import json
import sys

from prometheus_client.parser import text_string_to_metric_families

samples = []
for family in text_string_to_metric_families(sys.stdin.read()):
    for sample in family.samples:
        samples.append({"name": sample.name, "labels": dict(sample.labels), "value": sample.value, "type": family.type})
json.dump(samples, sys.stdout)
