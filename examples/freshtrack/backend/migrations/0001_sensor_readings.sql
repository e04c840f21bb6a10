-- Readings posted by sensors through POST /api/readings.
CREATE TABLE sensor_readings (
    id         bigserial PRIMARY KEY,
    sensor_id  text NOT NULL,
    value      double precision NOT NULL,
    note       text,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- The API lists newest first, and a rollback exports rows created since the cutover.
CREATE INDEX sensor_readings_created_at_idx ON sensor_readings (created_at);
