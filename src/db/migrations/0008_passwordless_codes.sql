CREATE TABLE "passwordless_codes" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"email" text NOT NULL,
	"user_id" integer,
	"security_stamp" integer,
	"code_hash" text NOT NULL,
	"link_hash" text NOT NULL,
	"browser_hash" text,
	"screen_code_hash" text,
	"redirect_to" text,
	"failed_attempts" integer DEFAULT 0 NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	"expires_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
ALTER TABLE "passwordless_codes" ADD CONSTRAINT "passwordless_codes_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "passwordless_codes_email_key" ON "passwordless_codes" USING btree (lower("email"));--> statement-breakpoint
CREATE UNIQUE INDEX "passwordless_codes_link_hash_key" ON "passwordless_codes" USING btree ("link_hash");--> statement-breakpoint
CREATE INDEX "passwordless_codes_user_id_idx" ON "passwordless_codes" USING btree ("user_id");