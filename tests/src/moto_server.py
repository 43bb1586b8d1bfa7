"""Starts moto's server (`moto.server.main`) with one correction to its DynamoDB Streams.

moto 5.x hands every new stream record to the Lambda event source mappings it once registered on
the table (a deleted mapping included) and then drops all of the shard's records. AWS keeps every
record for 24 hours for every reader, whatever the mappings do. Here a shard keeps its records and
invokes no function: moto could not run a `provided.al2023` bootstrap without Docker anyway, and a
test reads the stream itself (`orchgen dev --dynamodb-endpoint`, `orchgen redrive`).

Usage: python3 moto_server.py -H 127.0.0.1 -p PORT
"""

import sys

from moto.dynamodb.models.table import StreamRecord, StreamShard
from moto.server import main


def add(self, old, new):
    view_type = self.table.stream_specification["StreamViewType"]
    if old is None:
        event_name = "INSERT"
    elif new is None:
        event_name = "REMOVE"
    else:
        event_name = "MODIFY"
    seq = len(self.items) + self.starting_sequence_number
    self.items.append(StreamRecord(self.table, view_type, event_name, old, new, seq))


StreamShard.add = add

if __name__ == "__main__":
    main(sys.argv[1:])
