CREATE TABLE "recipient_disclosure_log" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "recipient_disclosure_log_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"recipient_id" text NOT NULL,
	"disclosed_at" timestamp with time zone NOT NULL,
	"subject_ids" uuid[] NOT NULL
);
