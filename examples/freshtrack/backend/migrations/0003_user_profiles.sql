-- Profiles of the people who use FreshTrack.
CREATE TABLE user_profiles (
    id           bigserial PRIMARY KEY,
    email        text UNIQUE,
    display_name text,
    created_at   timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX user_profiles_created_at_idx ON user_profiles (created_at);
