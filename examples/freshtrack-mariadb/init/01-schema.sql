-- FreshTrack's tables on MariaDB. created_at is DATETIME(6) in UTC: the export binds the
-- cutover as a UTC value on a session with time_zone '+00:00'.
CREATE TABLE sensor_readings (
    id BIGINT AUTO_INCREMENT PRIMARY KEY,
    sensor_id VARCHAR(64) NOT NULL,
    value DOUBLE NOT NULL,
    note TEXT NULL,
    created_at DATETIME(6) NOT NULL,
    KEY sensor_readings_created_at (created_at)
) ENGINE=InnoDB;

CREATE TABLE alerts (
    id BIGINT AUTO_INCREMENT PRIMARY KEY,
    sensor_id TEXT NULL,
    severity VARCHAR(16) NULL,
    message TEXT NULL,
    created_at DATETIME(6) NOT NULL,
    KEY alerts_created_at (created_at)
) ENGINE=InnoDB;

CREATE TABLE user_profiles (
    id BIGINT AUTO_INCREMENT PRIMARY KEY,
    email VARCHAR(255) NOT NULL UNIQUE,
    display_name TEXT NULL,
    created_at DATETIME(6) NOT NULL,
    KEY user_profiles_created_at (created_at)
) ENGINE=InnoDB;

-- A trigger and a routine, so the backup's --routines --triggers have something to keep.
CREATE TRIGGER alerts_severity_default BEFORE INSERT ON alerts FOR EACH ROW
    SET NEW.severity = NEW.severity;
CREATE FUNCTION reading_count() RETURNS BIGINT READS SQL DATA
    RETURN (SELECT count(*) FROM sensor_readings);
