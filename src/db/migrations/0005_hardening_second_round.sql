ALTER TABLE "mfa_challenges" ADD COLUMN "security_stamp" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "users" ADD COLUMN "security_stamp" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
CREATE INDEX "sessions_open_by_user_idx" ON "sessions" USING btree ("user_id","last_used_at") WHERE "sessions"."revoked_at" is null;