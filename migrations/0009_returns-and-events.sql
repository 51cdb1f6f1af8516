CREATE TABLE "return_events" (
	"id" uuid PRIMARY KEY NOT NULL,
	"arrival" bigserial NOT NULL,
	"return_id" uuid NOT NULL,
	"type" text NOT NULL,
	"origin" text NOT NULL,
	"carrier_code" text,
	"carrier" text,
	"occurred_at" timestamp with time zone NOT NULL,
	"received_at" timestamp with time zone DEFAULT now() NOT NULL,
	"dedupe_key" text NOT NULL,
	"amount_cents" bigint,
	"reason" text,
	"location_enc" "bytea",
	"proof_enc" "bytea",
	CONSTRAINT "return_events_dedupe_key_key" UNIQUE("dedupe_key")
);
--> statement-breakpoint
CREATE TABLE "returns" (
	"id" uuid PRIMARY KEY NOT NULL,
	"merchant_id" text NOT NULL,
	"order_ref" text NOT NULL,
	"subject_id" uuid NOT NULL,
	"status" text DEFAULT 'created' NOT NULL,
	"method" text NOT NULL,
	"refund_method" text NOT NULL,
	"data_state" text DEFAULT 'active' NOT NULL,
	"withdrawal_info_given" boolean DEFAULT true NOT NULL,
	"delivered_at" timestamp with time zone NOT NULL,
	"notified_at" timestamp with time zone NOT NULL,
	"withdrawal_deadline" date NOT NULL,
	"return_deadline" date NOT NULL,
	"refund_due_at" timestamp with time zone,
	"refunded_at" timestamp with time zone,
	"refunded_cents" bigint,
	"items" jsonb NOT NULL,
	"total_cents" bigint NOT NULL,
	"parcel" jsonb,
	"postal_area" text NOT NULL,
	"country" text NOT NULL,
	"customer_name_enc" "bytea",
	"customer_email_enc" "bytea",
	"customer_phone_enc" "bytea",
	"address_line1_enc" "bytea",
	"address_line2_enc" "bytea",
	"postal_code_enc" "bytea",
	"city_enc" "bytea",
	"item_comments_enc" "bytea",
	"iban_enc" "bytea",
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	"restricted_at" timestamp with time zone,
	"archived_at" timestamp with time zone,
	"erased_at" timestamp with time zone,
	CONSTRAINT "returns_data_state_check" CHECK ("returns"."data_state" in ('active', 'restricted', 'archived'))
);
--> statement-breakpoint
ALTER TABLE "return_events" ADD CONSTRAINT "return_events_return_id_returns_id_fk" FOREIGN KEY ("return_id") REFERENCES "public"."returns"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "returns" ADD CONSTRAINT "returns_subject_id_subjects_id_fk" FOREIGN KEY ("subject_id") REFERENCES "public"."subjects"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "return_events_return_arrival_idx" ON "return_events" USING btree ("return_id","arrival");--> statement-breakpoint
CREATE INDEX "returns_subject_id_idx" ON "returns" USING btree ("subject_id");--> statement-breakpoint
CREATE INDEX "returns_merchant_created_idx" ON "returns" USING btree ("merchant_id","created_at");--> statement-breakpoint
CREATE INDEX "returns_refund_due_idx" ON "returns" USING btree ("refund_due_at") WHERE "returns"."refunded_at" is null;