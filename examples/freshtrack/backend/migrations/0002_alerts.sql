-- Alerts raised for a sensor.
CREATE TABLE alerts (
    id         bigserial PRIMARY KEY,
    sensor_id  text,
    severity   text,
    message    text,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX alerts_created_at_idx ON alerts (created_at);
