CREATE TABLE "provider_clients" (
	"client_id" text PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"secret_salt" text,
	"redirect_uris" jsonb NOT NULL,
	"post_logout_redirect_uris" jsonb NOT NULL,
	"grant_types" jsonb NOT NULL,
	"first_party" boolean DEFAULT false NOT NULL,
	"created_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "provider_records" (
	"model" text NOT NULL,
	"id" text NOT NULL,
	"payload" jsonb NOT NULL,
	"grant_id" text,
	"uid" text,
	"user_code" text,
	"account_id" text,
	"expires_at" timestamp with time zone,
	"consumed_at" timestamp with time zone,
	CONSTRAINT "provider_records_model_id_pk" PRIMARY KEY("model","id")
);
--> statement-breakpoint
CREATE INDEX "provider_records_grant_id_idx" ON "provider_records" USING btree ("grant_id");--> statement-breakpoint
CREATE INDEX "provider_records_uid_idx" ON "provider_records" USING btree ("uid");--> statement-breakpoint
CREATE INDEX "provider_records_user_code_idx" ON "provider_records" USING btree ("user_code");--> statement-breakpoint
CREATE INDEX "provider_records_account_id_idx" ON "provider_records" USING btree ("account_id");--> statement-breakpoint
CREATE INDEX "provider_records_expires_at_idx" ON "provider_records" USING btree ("expires_at");