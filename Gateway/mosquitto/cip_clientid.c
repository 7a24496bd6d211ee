/*
 * cip_clientid.c: a Mosquitto 2.0 plugin that binds client ids to accounts.
 *
 * Rule: a connection with user name U may only use the client id U or U/<anything>. The part of a client id
 * before its first '/' therefore names the one account that owns it, and no account can connect with a client
 * id another account owns. In Mosquitto a second connection with an existing client id disconnects the first
 * (and, with a clean session, discards its persistent session): without this rule any account, including the
 * shared bootstrap account whose password is printed on every box, could kick the gateway's persistent
 * ingest session (cip-gateway/ingest) or a device's session.
 *
 * Device ids never contain '/' (the registry refuses them), and no device may be named like a fixed account
 * (reserved names), so the namespaces of all accounts are disjoint.
 *
 * Second rule (option `plugin_opt_no_wildcard_users u1,u2`): the listed accounts may not subscribe with a
 * wildcard ('+' or '#' anywhere in the filter, $share filters included). The shared bootstrap account is
 * listed: dynamic security's subscribePattern `provisioning/+/result/+` also grants the filter
 * `provisioning/<serial>/result/+` (checked on 2.0.11), which would read another device's onboarding answer;
 * with wildcards refused, a bootstrap holder can only read an answer whose topic (its nonce) it knows.
 *
 * Third rule (option `plugin_opt_no_retain_users u1,u2`): the listed accounts may not publish retained
 * messages. A retained claim from the shared bootstrap account would be stored by the broker (without bound,
 * one per serial an attacker invents) and replayed to the gateway on every reconnect.
 *
 * Fourth rule (option `plugin_opt_device_topics prefix1,prefix2`): a message to a topic under a listed prefix
 * (`devices/`) is never retained: the retain flag is cleared and the message goes on (MOSQ_EVT_MESSAGE may change
 * it), so an alarm a device sends retained is still delivered, while the broker never hands an old reading to the
 * gateway again on a resubscribe. Refusing it instead would drop the alarm with a successful PUBACK.
 *
 * Fifth rule (option `plugin_opt_max_device_payload N`): a message under those prefixes with a payload above N
 * bytes goes on with its payload replaced by a note, a NUL and "cip: payload not kept; bytes=<size>", which the
 * gateway dead-letters with the size. The broker never holds such payloads in its queues, and the message is
 * accounted for instead of vanishing.
 *
 * Sixth rule (option `plugin_opt_no_certificate_users u1,u2`): a client that connected with a certificate (the
 * certificate listener, where the broker takes the certificate's name as the user name and skips the password
 * step) may do nothing at all if its user name is one of the listed fixed accounts or begins with "cip-" (any
 * case): a device certificate named like a fixed account (`cip-admin` administers dynamic security) would
 * otherwise be that account. The gateway never issues such a certificate; this is the broker's own guard.
 *
 * It registers for MOSQ_EVT_BASIC_AUTH, MOSQ_EVT_ACL_CHECK and MOSQ_EVT_MESSAGE. Load it BEFORE the dynamic-security plugin in mosquitto.conf:
 * Mosquitto 2.0 calls the basic-auth callbacks in the order the plugins were loaded, and the first that does
 * not return MOSQ_ERR_PLUGIN_DEFER decides (ACL checks likewise). This plugin defers when the client id is the user's, so dynamic
 * security still checks the password; it refuses (MOSQ_ERR_AUTH, CONNACK "not authorised") otherwise, before
 * the broker looks for an existing session with that id (the takeover happens only after authentication).
 * Gateway/tests (IntegrationTests.BrokerTrust) pin this on the real broker.
 *
 * Built by Gateway/stack: gcc -shared -fPIC -O2 -o cip_clientid.so cip_clientid.c (needs mosquitto-dev).
 */
#include <stdbool.h>
#include <stdio.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <strings.h>

#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>
#include <openssl/x509.h>

static mosquitto_plugin_id_t *plugin_id = NULL;
/* ",user1,user2," (leading and trailing commas) from plugin_opt_no_wildcard_users / _no_retain_users, or NULL. */
static char *no_wildcard_users = NULL;
static char *no_retain_users = NULL;
static char *no_certificate_users = NULL;
static char *device_topics = NULL;
static unsigned long max_device_payload = 0;

/* Whether topic starts with one of the prefixes in list (",a/,b/,"). */
static bool under(const char *list, const char *topic)
{
	const char *start, *end;

	if(list == NULL) return false;
	for(start = list + 1; *start != '\0'; start = end + 1){
		end = strchr(start, ',');
		if(end == NULL) break;
		if(end > start && strncmp(topic, start, (size_t)(end - start)) == 0) return true;
	}
	return false;
}

/* Whether username is in list (",a,b,"); a missing user name counts as listed. */
static bool listed(const char *list, const char *username)
{
	char needle[512];
	size_t length;

	if(list == NULL) return false;
	if(username == NULL) return true;
	length = strlen(username);
	if(length + 3 > sizeof(needle) || strchr(username, ',') != NULL) return true;
	needle[0] = ',';
	memcpy(needle + 1, username, length);
	needle[length + 1] = ',';
	needle[length + 2] = '\0';
	return strstr(list, needle) != NULL;
}

/* ",value," in a fresh allocation, or NULL when out of memory. */
static char *make_list(const char *value)
{
	size_t length = strlen(value);
	char *list = malloc(length + 3);

	if(list == NULL) return NULL;
	list[0] = ',';
	memcpy(list + 1, value, length);
	list[length + 1] = ',';
	list[length + 2] = '\0';
	return list;
}

/* Whether the client presented a certificate (the certificate listener requires one). */
static bool has_certificate(struct mosquitto *client)
{
	X509 *certificate = mosquitto_client_certificate(client);

	if(certificate == NULL) return false;
	X509_free(certificate);
	return true;
}

static int acl_check(int event, void *event_data, void *userdata)
{
	struct mosquitto_evt_acl_check *ed = event_data;
	const char *username;

	(void)event;
	(void)userdata;
	username = mosquitto_client_username(ed->client);
	if(username != NULL && (listed(no_certificate_users, username) || strncasecmp(username, "cip-", 4) == 0)
			&& has_certificate(ed->client)){
		mosquitto_log_printf(MOSQ_LOG_WARNING, "cip_clientid: refused '%s' to a certificate named like the fixed account '%s'",
				ed->topic ? ed->topic : "", username);
		return MOSQ_ERR_ACL_DENIED;
	}
	if(ed->topic == NULL) return MOSQ_ERR_PLUGIN_DEFER;
	if(ed->access == MOSQ_ACL_WRITE && ed->retain){
		username = mosquitto_client_username(ed->client);
		if(!listed(no_retain_users, username)) return MOSQ_ERR_PLUGIN_DEFER;
		mosquitto_log_printf(MOSQ_LOG_NOTICE, "cip_clientid: refused retained publish to '%s' of user '%s'",
				ed->topic, username ? username : "");
		return MOSQ_ERR_ACL_DENIED;
	}
	if(ed->access != MOSQ_ACL_SUBSCRIBE) return MOSQ_ERR_PLUGIN_DEFER;
	if(strpbrk(ed->topic, "+#") == NULL) return MOSQ_ERR_PLUGIN_DEFER;
	username = mosquitto_client_username(ed->client);
	if(!listed(no_wildcard_users, username)) return MOSQ_ERR_PLUGIN_DEFER;
	mosquitto_log_printf(MOSQ_LOG_NOTICE, "cip_clientid: refused wildcard subscription '%s' of user '%s'",
			ed->topic, username ? username : "");
	return MOSQ_ERR_ACL_DENIED;
}

static int on_message(int event, void *event_data, void *userdata)
{
	struct mosquitto_evt_message *ed = event_data;
	static const char note[] = "cip: payload not kept; bytes=";
	char text[64];
	char *payload;
	int length;

	(void)event;
	(void)userdata;
	if(ed->topic == NULL || !under(device_topics, ed->topic)) return MOSQ_ERR_SUCCESS;
	if(ed->retain){
		ed->retain = false;
		mosquitto_log_printf(MOSQ_LOG_NOTICE, "cip_clientid: cleared the retain flag of a message to '%s'", ed->topic);
	}
	if(max_device_payload > 0 && ed->payloadlen > max_device_payload){
		length = snprintf(text, sizeof(text), "%s%u", note, (unsigned)ed->payloadlen);
		if(length <= 0 || (size_t)length >= sizeof(text)) return MOSQ_ERR_SUCCESS;
		/* The broker frees the old payload and owns this one. */
		payload = mosquitto_malloc((size_t)length + 1);
		if(payload == NULL) return MOSQ_ERR_NOMEM;
		payload[0] = '\0';
		memcpy(payload + 1, text, (size_t)length);
		mosquitto_log_printf(MOSQ_LOG_NOTICE, "cip_clientid: kept only the size of a %u-byte payload to '%s'",
				(unsigned)ed->payloadlen, ed->topic);
		ed->payload = payload;
		ed->payloadlen = (uint32_t)length + 1;
	}
	return MOSQ_ERR_SUCCESS;
}

/* True if client_id is username or starts with username followed by '/'. */
static bool owns(const char *username, const char *client_id)
{
	size_t length;

	if(username == NULL || client_id == NULL || username[0] == '\0') return false;
	length = strlen(username);
	if(strncmp(client_id, username, length) != 0) return false;
	return client_id[length] == '\0' || client_id[length] == '/';
}

static int basic_auth(int event, void *event_data, void *userdata)
{
	struct mosquitto_evt_basic_auth *ed = event_data;
	const char *client_id;

	(void)event;
	(void)userdata;
	client_id = mosquitto_client_id(ed->client);
	if(owns(ed->username, client_id)){
		return MOSQ_ERR_PLUGIN_DEFER;
	}
	mosquitto_log_printf(MOSQ_LOG_NOTICE,
			"cip_clientid: refused client id '%s' for user '%s' (a client id must be the user name or start with '<user name>/')",
			client_id ? client_id : "", ed->username ? ed->username : "");
	return MOSQ_ERR_AUTH;
}

int mosquitto_plugin_version(int supported_version_count, const int *supported_versions)
{
	int i;

	for(i = 0; i < supported_version_count; i++){
		if(supported_versions[i] == 5) return 5;
	}
	return -1;
}

int mosquitto_plugin_init(mosquitto_plugin_id_t *identifier, void **user_data, struct mosquitto_opt *opts, int opt_count)
{
	int i, rc;

	(void)user_data;
	plugin_id = identifier;
	for(i = 0; i < opt_count; i++){
		if(opts[i].value == NULL) continue;
		if(strcmp(opts[i].key, "no_wildcard_users") == 0){
			free(no_wildcard_users);
			if((no_wildcard_users = make_list(opts[i].value)) == NULL) return MOSQ_ERR_NOMEM;
		}else if(strcmp(opts[i].key, "no_retain_users") == 0){
			free(no_retain_users);
			if((no_retain_users = make_list(opts[i].value)) == NULL) return MOSQ_ERR_NOMEM;
		}else if(strcmp(opts[i].key, "no_certificate_users") == 0){
			free(no_certificate_users);
			if((no_certificate_users = make_list(opts[i].value)) == NULL) return MOSQ_ERR_NOMEM;
		}else if(strcmp(opts[i].key, "device_topics") == 0){
			free(device_topics);
			if((device_topics = make_list(opts[i].value)) == NULL) return MOSQ_ERR_NOMEM;
		}else if(strcmp(opts[i].key, "max_device_payload") == 0){
			max_device_payload = strtoul(opts[i].value, NULL, 10);
		}
	}
	rc = mosquitto_callback_register(plugin_id, MOSQ_EVT_BASIC_AUTH, basic_auth, NULL, NULL);
	if(rc) return rc;
	rc = mosquitto_callback_register(plugin_id, MOSQ_EVT_MESSAGE, on_message, NULL, NULL);
	if(rc) return rc;
	return mosquitto_callback_register(plugin_id, MOSQ_EVT_ACL_CHECK, acl_check, NULL, NULL);
}

int mosquitto_plugin_cleanup(void *user_data, struct mosquitto_opt *opts, int opt_count)
{
	(void)user_data;
	(void)opts;
	(void)opt_count;
	mosquitto_callback_unregister(plugin_id, MOSQ_EVT_ACL_CHECK, acl_check, NULL);
	mosquitto_callback_unregister(plugin_id, MOSQ_EVT_MESSAGE, on_message, NULL);
	free(no_wildcard_users);
	no_wildcard_users = NULL;
	free(no_retain_users);
	no_retain_users = NULL;
	free(no_certificate_users);
	no_certificate_users = NULL;
	free(device_topics);
	device_topics = NULL;
	return mosquitto_callback_unregister(plugin_id, MOSQ_EVT_BASIC_AUTH, basic_auth, NULL);
}
