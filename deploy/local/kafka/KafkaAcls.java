// Adds ALLOW ACLs through the Admin API (the jars deploy/local/infra.sh fetches have no
// kafka-acls tool).  Run with Java's source launcher:
//
//   java -cp 'var/kafka/libs/*' deploy/local/kafka/KafkaAcls.java client.properties \
//       User:intake:WRITE:TOPIC:blindpost.message-events:LITERAL ...
//
// Each argument after the client settings is principal:operation:resource-type:name:pattern.
import java.io.FileReader;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.common.acl.AccessControlEntry;
import org.apache.kafka.common.acl.AclBinding;
import org.apache.kafka.common.acl.AclOperation;
import org.apache.kafka.common.acl.AclPermissionType;
import org.apache.kafka.common.resource.PatternType;
import org.apache.kafka.common.resource.ResourcePattern;
import org.apache.kafka.common.resource.ResourceType;

public class KafkaAcls {
    public static void main(String[] args) throws Exception {
        Properties props = new Properties();
        try (FileReader reader = new FileReader(args[0])) {
            props.load(reader);
        }
        List<AclBinding> bindings = new ArrayList<>();
        for (int i = 1; i < args.length; i++) {
            // The principal itself holds a colon (User:name).
            String[] part = args[i].split(":", 6);
            ResourcePattern resource = new ResourcePattern(
                ResourceType.valueOf(part[3]), part[4], PatternType.valueOf(part[5]));
            AccessControlEntry entry = new AccessControlEntry(
                part[0] + ":" + part[1], "*", AclOperation.valueOf(part[2]), AclPermissionType.ALLOW);
            bindings.add(new AclBinding(resource, entry));
        }
        try (Admin admin = Admin.create(props)) {
            admin.createAcls(bindings).all().get();
        }
        System.out.println("acls created: " + bindings.size());
    }
}
