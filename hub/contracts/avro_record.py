"""The base of every pydantic model that mirrors an Avro record of ``schemas/avro``."""

from pydantic import BaseModel, ConfigDict


class AvroRecord(BaseModel):
    """Base of every model mirroring an Avro record named ``fr.nrm.<class name>``."""

    model_config = ConfigDict(frozen=True, extra="forbid")
